import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryIntel

/// A glob that matches something other than a regular file skips it: a stray FIFO, directory or
/// dangling link beside good feeds refused the whole rule set, on start and on every reload.
@Suite struct GlobNonRegularFileTests {
  /// A feed, then a FIFO, a directory, a dangling symbolic link and a symbolic link loop, all
  /// matching `*.domains.txt`.
  static func strays(_ directory: FeedDirectory) throws -> String {
    _ = try directory.write("a.domains.txt", "evil.example\nworse.example\n")
    let base = directory.url.path
    try #require(mkfifo(base + "/b.domains.txt", 0o600) == 0)
    try #require(mkdir(base + "/c.domains.txt", 0o700) == 0)
    try #require(symlink(base + "/missing", base + "/d.domains.txt") == 0)
    try #require(symlink(base + "/e.domains.txt", base + "/e.domains.txt") == 0)
    return base
  }

  @Test func aGlobSkipsWhatIsNotARegularFileAndSaysWhatItIs() throws {
    let directory = try FeedDirectory()
    let base = try Self.strays(directory)
    let load = try IntelListLoader.load(
      IntelListSpecification(name: "c2", type: .domain, files: ["*.domains.txt"]), baseDirectory: base)
    #expect(load.list.count == 2)
    #expect(load.unmatchedPatterns.isEmpty)
    #expect(
      load.skippedFiles == [
        SkippedFeedFile(pattern: "*.domains.txt", path: base + "/b.domains.txt", kind: "a FIFO"),
        SkippedFeedFile(pattern: "*.domains.txt", path: base + "/c.domains.txt", kind: "a directory"),
        SkippedFeedFile(pattern: "*.domains.txt", path: base + "/d.domains.txt", kind: "a dangling symbolic link"),
        SkippedFeedFile(pattern: "*.domains.txt", path: base + "/e.domains.txt", kind: "a symbolic link loop"),
      ])
  }

  @Test func aPathNamedLiterallyIsStillAnError() throws {
    let directory = try FeedDirectory()
    let base = try Self.strays(directory)
    #expect(
      throws: IntelListLoadFailure(
        pattern: "b.domains.txt",
        error: .unreadable(path: base + "/b.domains.txt", reason: "not a regular file (a FIFO)"))
    ) {
      try IntelListLoader.load(
        IntelListSpecification(name: "c2", type: .domain, files: ["a.domains.txt", "b.domains.txt"]),
        baseDirectory: base)
    }
  }

  /// A reload compares the files the globs match with those it read: a skipped path is not a new feed.
  @Test func aSkippedPathIsNoChangeToTheLoadedFeeds() throws {
    let directory = try FeedDirectory()
    _ = try Self.strays(directory)
    let loaded = try LoadedFeedsTests.load(directory)
    #expect(loaded.files.count == 1)
    #expect(loaded.compareWithFiles() == .unchanged(files: 1))
  }

  /// A glob's match past `IntelLimits.maximumFeedFileBytes` is skipped with its size, unread: one
  /// stray big file in the feeds directory made the load fail, so the monitor would not start. Named
  /// literally it is still an error naming it.
  @Test func aGlobSkipsAFilePastTheSizeLimitAndAPathNamedLiterallyIsRefused() throws {
    let directory = try FeedDirectory()
    _ = try directory.write("a.domains.txt", "evil.example\n")
    let huge = try directory.write("b.domains.txt", "worse.example\n")
    let size = Int64(IntelLimits.maximumFeedFileBytes) + 1
    // Sparse: no block of it is written.
    try #require(truncate(huge, off_t(size)) == 0)
    let base = directory.url.path
    let load = try IntelListLoader.load(
      IntelListSpecification(name: "c2", type: .domain, files: ["*.domains.txt"]), baseDirectory: base)
    #expect(load.list.count == 1)
    let skipped = SkippedFeedFile(pattern: "*.domains.txt", path: huge, kind: "a regular file", bytes: size)
    #expect(load.skippedFiles == [skipped])
    #expect(skipped.reason == "\(size) bytes, over the feed size limit of \(IntelLimits.maximumFeedFileBytes) bytes")
    // A reload's comparison expands the glob as the load does: the skipped file is no new feed.
    let loaded = try LoadedFeedsTests.load(directory)
    #expect(loaded.files.count == 1)
    #expect(loaded.compareWithFiles() == .unchanged(files: 1))
    #expect(
      throws: IntelListLoadFailure(
        pattern: "b.domains.txt",
        error: .unreadable(
          path: huge, reason: "\(size) bytes, over the limit of \(IntelLimits.maximumFeedFileBytes) bytes"))
    ) {
      try IntelListLoader.load(
        IntelListSpecification(name: "c2", type: .domain, files: ["a.domains.txt", "b.domains.txt"]),
        baseDirectory: base)
    }
  }
}

import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryIntel

/// A feed change is told from a refresh that rewrote the same bytes: by content, whatever the
/// inode, and any file added, removed, changed or unreadable counts as a change.
@Suite struct LoadedFeedsTests {
  /// Loads `*.domains.txt` in `directory` as a monitor's reload does, recording what it read and
  /// when, by `clock`.
  static func load(
    _ directory: FeedDirectory, clock: @escaping @Sendable () -> FeedClockReading = { .now }
  ) throws -> LoadedFeeds {
    let recorder = FeedFingerprintRecorder(clock: clock)
    let specification = IntelListSpecification(name: "c2", type: .domain, files: ["*.domains.txt"])
    _ = try recorder.recording { () throws(IntelListLoadFailure) in
      try IntelListLoader.load(specification, baseDirectory: directory.url.path)
    }
    return LoadedFeeds(patterns: [directory.url.path + "/*.domains.txt"], recorder: recorder)
  }

  /// The refresh job's way: a temporary name, then rename(2) over the feed.
  static func replace(_ directory: FeedDirectory, _ name: String, bytes: [UInt8]) throws {
    let temporary = try directory.write(".\(name).tmp", bytes: bytes)
    #expect(rename(temporary, directory.url.appendingPathComponent(name).path) == 0)
  }

  static func inode(_ path: String) -> UInt64 {
    var status = stat()
    #expect(stat(path, &status) == 0)
    return UInt64(status.st_ino)
  }

  @Test func theSameBytesUnderANewInodeAreUnchanged() throws {
    let directory = try FeedDirectory()
    let first = try directory.write("a.domains.txt", "evil.example\nc2.example\n")
    _ = try directory.write("b.domains.txt", "other.example\n")
    let loaded = try Self.load(directory)
    #expect(loaded.files.count == 2)
    #expect(loaded.compareWithFiles() == .unchanged(files: 2))

    let before = Self.inode(first)
    try Self.replace(directory, "a.domains.txt", bytes: Array("evil.example\nc2.example\n".utf8))
    #expect(Self.inode(first) != before)
    // A file beside the feeds that no pattern names is no feed.
    _ = try directory.write("notes.txt", "not a feed\n")
    #expect(loaded.compareWithFiles() == .unchanged(files: 2))
  }

  @Test func oneByteChangedAtTheSameSizeIsAChange() throws {
    let directory = try FeedDirectory()
    // Three hash blocks and a bit: the byte changed sits in the middle one.
    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 3 * FeedScanning.blockBytes + 5)
    for index in stride(from: 63, to: bytes.count, by: 64) { bytes[index] = UInt8(ascii: "\n") }
    _ = try directory.write("big.domains.txt", bytes: bytes)
    let loaded = try Self.load(directory)
    #expect(loaded.files.values.first == .read(FeedFingerprint(size: bytes.count, hash: Self.hash(bytes))))

    try Self.replace(directory, "big.domains.txt", bytes: bytes)
    #expect(loaded.compareWithFiles() == .unchanged(files: 1))
    bytes[FeedScanning.blockBytes + 1000] = UInt8(ascii: "b")
    try Self.replace(directory, "big.domains.txt", bytes: bytes)
    #expect(loaded.compareWithFiles() == .changed(directory.url.path + "/big.domains.txt changed"))
  }

  /// A file two patterns name is read twice, and fingerprinted once it gave the same bytes both times.
  @Test func aFileTwoPatternsNameIsRecordedOnce() throws {
    let directory = try FeedDirectory()
    let feed = try directory.write("a.domains.txt", "evil.example\n")
    let recorder = FeedFingerprintRecorder()
    let specification = IntelListSpecification(
      name: "c2", type: .domain, files: ["a.domains.txt", "*.domains.txt"])
    _ = try recorder.recording { () throws(IntelListLoadFailure) in
      try IntelListLoader.load(specification, baseDirectory: directory.url.path)
    }
    #expect(recorder.files == [feed: .read(FeedFingerprint(size: 13, hash: Self.hash(Array("evil.example\n".utf8))))])
  }

  @Test func aFileAddedToTheGlobIsAChange() throws {
    let directory = try FeedDirectory()
    _ = try directory.write("a.domains.txt", "evil.example\n")
    let loaded = try Self.load(directory)
    _ = try directory.write("b.domains.txt", "")
    #expect(loaded.compareWithFiles() == .changed(directory.url.path + "/b.domains.txt is new"))
  }

  @Test func aFileRemovedIsAChange() throws {
    let directory = try FeedDirectory()
    _ = try directory.write("a.domains.txt", "evil.example\n")
    let second = try directory.write("b.domains.txt", "c2.example\n")
    let loaded = try Self.load(directory)
    try FileManager.default.removeItem(atPath: second)
    #expect(loaded.compareWithFiles() == .changed(second + " is gone"))
  }

  @Test func aFileThatCannotBeReadIsAChange() throws {
    let directory = try FeedDirectory()
    let feed = directory.url.appendingPathComponent("a.domains.txt").path
    // Root reads any mode, so the feed becomes what no feed can be: a directory of the feed's size,
    // which would pass the size check.
    let standIn = directory.url.appendingPathComponent("stand-in").path
    try FileManager.default.createDirectory(atPath: standIn, withIntermediateDirectories: false)
    var status = stat()
    #expect(stat(standIn, &status) == 0)
    _ = try directory.write("a.domains.txt", bytes: Array(repeating: UInt8(ascii: "\n"), count: Int(status.st_size)))
    let loaded = try Self.load(directory)
    try FileManager.default.removeItem(atPath: feed)
    #expect(rename(standIn, feed) == 0)
    // The glob skips what is not a regular file (a reload warns of it): the feed is gone.
    #expect(loaded.compareWithFiles() == .changed("\(feed) is gone"))

    // And a FIFO.
    #expect(rmdir(feed) == 0)
    #expect(mkfifo(feed, 0o600) == 0)
    #expect(loaded.compareWithFiles() == .changed("\(feed) is gone"))
  }

  @Test func aPlainPathThatVanishedIsAChangeAndAMissingGlobDirectoryMatchesNothing() throws {
    let directory = try FeedDirectory()
    let feed = try directory.write("plain.txt", "evil.example\n")
    let recorder = FeedFingerprintRecorder()
    let specification = IntelListSpecification(name: "c2", type: .domain, files: [feed])
    _ = try recorder.recording { () throws(IntelListLoadFailure) in
      try IntelListLoader.load(specification, baseDirectory: "")
    }
    let absent = directory.url.path + "/absent/*.txt"
    let loaded = LoadedFeeds(patterns: [feed, absent], files: recorder.files)
    #expect(loaded.compareWithFiles() == .unchanged(files: 1))
    try FileManager.default.removeItem(atPath: feed)
    guard case .changed = loaded.compareWithFiles() else {
      Issue.record("a feed path that vanished compared unchanged")
      return
    }
  }

  /// A feed rewritten between the pass that fingerprints it and the builder's read may have loaded
  /// other bytes than the ones hashed: even once it holds them again, a feed change reloads.
  @Test func aFeedRewrittenWhileItLoadedIsNeverComparedUnchanged() throws {
    let directory = try FeedDirectory()
    let feed = try directory.write("a.domains.txt", "evil.example\n")
    let recorder = FeedFingerprintRecorder()
    #expect(recorder.scanBeforeLoading(feed)?.bytes == 13)
    try Self.replace(directory, "a.domains.txt", bytes: Array("other.example\n".utf8))
    try Self.replace(directory, "a.domains.txt", bytes: Array("evil.example\n".utf8))
    recorder.loaded(feed, bytesRead: 13)
    #expect(recorder.files == [feed: .unverified])
    let loaded = LoadedFeeds(patterns: [directory.url.path + "/*.domains.txt"], files: recorder.files)
    #expect(loaded.compareWithFiles() == .changed(feed + " changed while it loaded"))
  }

  /// The pass that fingerprints a feed also sizes its list: the same bytes and lines as `feedExtent`.
  @Test func theFingerprintingPassSizesAsTheExtentPassDoes() throws {
    let directory = try FeedDirectory()
    var long = [UInt8](repeating: UInt8(ascii: "x"), count: FeedScanning.blockBytes * 2)
    long[FeedScanning.blockBytes - 1] = UInt8(ascii: "\n")
    let contents: [[UInt8]] = [[], Array("a\n".utf8), Array("a\nb".utf8), Array("\n\n\n".utf8), long]
    for (index, bytes) in contents.enumerated() {
      let path = try directory.write("\(index).txt", bytes: bytes)
      let scanned = FeedFingerprintRecorder().scanBeforeLoading(path)
      let extent = feedExtent(ofFileAt: path)
      #expect(scanned != nil)
      #expect(scanned?.bytes == extent?.bytes && scanned?.lines == extent?.lines, "\(index)")
    }
  }
}

extension LoadedFeedsTests {
  /// The hash `FeedScanning` gives `bytes`, block by block, from the hash function itself.
  static func hash(_ bytes: [UInt8]) -> UInt64 {
    var state = FeedScanning.hasher.initialState
    bytes.withUnsafeBytes { buffer in
      var offset = 0
      while offset < buffer.count {
        let count = min(FeedScanning.blockBytes, buffer.count - offset)
        state = FeedScanning.hasher.combine(state, buffer.baseAddress! + offset, count: count, lowercasing: false)
        offset += count
      }
    }
    return state
  }
}

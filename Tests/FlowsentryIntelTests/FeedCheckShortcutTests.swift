import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryIntel

/// The periodic feed check trusts a file that is still the file read (no write since) without
/// reading it; a feed event reads every byte; and a load whose builder read other than the bytes
/// the fingerprinting pass saw records nothing it could skip on.
@Suite struct FeedCheckShortcutTests {
  @Test func aPeriodicCheckTrustsAnUnwrittenFileAndAFeedEventReadsIt() throws {
    let directory = try FeedDirectory()
    let feed = try directory.write("a.domains.txt", "evil.example\n")
    let loaded = try LoadedFeedsTests.load(directory)
    guard case .read(var fingerprint) = loaded.files[feed] else {
      Issue.record("the feed was not fingerprinted")
      return
    }
    #expect(fingerprint.file != nil)
    // The same file, never written, but recorded under a hash its bytes do not have: only a check
    // that reads the bytes sees it.
    fingerprint.hash &+= 1
    let misrecorded = LoadedFeeds(patterns: loaded.patterns, files: [feed: .read(fingerprint)])
    #expect(misrecorded.compareWithFiles(trustingUnwrittenFiles: true) == .unchanged(files: 1))
    #expect(misrecorded.compareWithFiles() == .changed(feed + " changed"))
  }

  @Test func aFileWrittenInPlaceAtTheSameSizeIsReadEvenByAPeriodicCheck() throws {
    let directory = try FeedDirectory()
    let feed = try directory.write("a.domains.txt", "evil.example\n")
    let loaded = try LoadedFeedsTests.load(directory)
    // Written in place (same inode, same size): its times change, so the check reads it.
    let handle = try #require(FileHandle(forWritingAtPath: feed))
    try handle.write(contentsOf: Data("live.example\n".utf8))
    try handle.close()
    #expect(loaded.compareWithFiles(trustingUnwrittenFiles: true) == .changed(feed + " changed"))
    // A file added under the glob is seen without reading anything.
    try Data("live.example\n".utf8).write(to: directory.url.appendingPathComponent("a.domains.txt"))
    _ = try directory.write("b.domains.txt", "new.example\n")
    guard case .changed(let why) = loaded.compareWithFiles(trustingUnwrittenFiles: true), why.hasSuffix("is new") else {
      Issue.record("a file added under the glob was not seen")
      return
    }
  }

  @Test func aFeedRenamedOverWithTheSameBytesIsReadOnceThenKnownAsTheNewFile() throws {
    let directory = try FeedDirectory()
    let feed = try directory.write("a.domains.txt", "evil.example\n")
    let loaded = try LoadedFeedsTests.load(directory)
    try LoadedFeedsTests.replace(directory, "a.domains.txt", bytes: Array("evil.example\n".utf8))
    let compared = loaded.comparedWithFiles(trustingUnwrittenFiles: true)
    #expect(compared.comparison == .unchanged(files: 1))
    guard case .read(var fingerprint) = compared.feeds.files[feed], case .read(let before) = loaded.files[feed] else {
      Issue.record("the feed lost its fingerprint")
      return
    }
    #expect(fingerprint == before)
    #expect(fingerprint.file != before.file)
    #expect(fingerprint.file == FeedFileIdentity(path: feed))
    // Known as the new file: a periodic check trusts it (a wrong hash shows it was not read).
    fingerprint.hash &+= 1
    let misrecorded = LoadedFeeds(patterns: loaded.patterns, files: [feed: .read(fingerprint)])
    #expect(misrecorded.compareWithFiles(trustingUnwrittenFiles: true) == .unchanged(files: 1))
  }

  @Test func aBuilderThatReadOtherThanTheScannedBytesRecordsNothingToSkipOn() throws {
    let directory = try FeedDirectory()
    let feed = try directory.write("a.domains.txt", "evil.example\n")
    let recorder = FeedFingerprintRecorder()
    #expect(recorder.scanBeforeLoading(feed)?.bytes == 13)
    recorder.loaded(feed, bytesRead: 5)
    #expect(recorder.files == [feed: .unverified])
    let whole = FeedFingerprintRecorder()
    #expect(whole.scanBeforeLoading(feed)?.bytes == 13)
    whole.loaded(feed, bytesRead: 13)
    guard case .read = whole.files[feed] else {
      Issue.record("a whole read was not recorded")
      return
    }
  }
}

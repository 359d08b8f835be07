import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryIntel

/// The periodic feed check trusts a file that is still the file read (no write since) without
/// reading it, once its times are older than the read by more than a tick of the file system's
/// clock; a feed event reads every byte; and a load whose builder read other than the bytes the
/// fingerprinting pass saw records nothing it could skip on.
@Suite struct FeedCheckShortcutTests {
  /// The clock of a read 10 s after now: the files a test has just written are old to it, as feeds
  /// left alone since their last refresh are.
  static let later: @Sendable () -> FeedClockReading = { FeedClockReading.now.advanced(bySeconds: 10) }

  /// The moment `seconds` after the change time of the file at `path`, on both clocks.
  static func reading(_ seconds: Int, after path: String) throws -> FeedClockReading {
    let identity = try #require(FeedFileIdentity(path: path))
    return FeedClockReading.at(FileClockInstant(identity.changed).advanced(bySeconds: seconds))
  }

  @Test func aPeriodicCheckTrustsAnUnwrittenFileAndAFeedEventReadsIt() throws {
    let directory = try FeedDirectory()
    let feed = try directory.write("a.domains.txt", "evil.example\n")
    let loaded = try LoadedFeedsTests.load(directory, clock: Self.later)
    guard case .read(var fingerprint) = loaded.files[feed] else {
      Issue.record("the feed was not fingerprinted")
      return
    }
    #expect(fingerprint.file != nil)
    // The same file, never written, but recorded under a hash its bytes do not have: only a check
    // that reads the bytes sees it.
    fingerprint.hash &+= 1
    let misrecorded = loaded.recording(feed, as: .read(fingerprint))
    #expect(misrecorded.checkedLater() == .unchanged(files: 1))
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
    #expect(loaded.compareWithFiles(trustingSettledFiles: true) == .changed(feed + " changed"))
    // A file added under the glob is seen without reading anything.
    try Data("live.example\n".utf8).write(to: directory.url.appendingPathComponent("a.domains.txt"))
    _ = try directory.write("b.domains.txt", "new.example\n")
    guard case .changed(let why) = loaded.compareWithFiles(trustingSettledFiles: true), why.hasSuffix("is new") else {
      Issue.record("a file added under the glob was not seen")
      return
    }
  }

  @Test func aFeedRenamedOverWithTheSameBytesIsReadOnceThenKnownAsTheNewFile() throws {
    let directory = try FeedDirectory()
    let feed = try directory.write("a.domains.txt", "evil.example\n")
    let loaded = try LoadedFeedsTests.load(directory)
    try LoadedFeedsTests.replace(directory, "a.domains.txt", bytes: Array("evil.example\n".utf8))
    let compared = loaded.comparedWithFiles(trustingSettledFiles: true, clock: Self.later)
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
    let misrecorded = compared.feeds.recording(feed, as: .read(fingerprint))
    #expect(misrecorded.checkedLater() == .unchanged(files: 1))
  }

  /// A write that lands in the same tick of the file system's clock as the read leaves the file's
  /// identity as it was: a file whose times are that close to its read is read by the next check.
  @Test func aSameSizeRewriteWithinATickOfTheReadIsFoundByAPeriodicCheck() throws {
    let directory = try FeedDirectory()
    let feed = try directory.write("a.domains.txt", "evil.example\n")
    let loaded = try LoadedFeedsTests.load(directory)
    guard case .read(var fingerprint) = loaded.files[feed], let read = fingerprint.file else {
      Issue.record("the feed was not fingerprinted")
      return
    }
    // Rewritten in place at the same size, its modification time set back to the one read.
    try Self.rewriteInPlace(feed, "live.example\n", modified: read.modified)
    // The kernel moved the change time (no program can set it); a write within the tick would not have.
    let rewritten = try #require(FeedFileIdentity(path: feed))
    #expect(rewritten.inode == read.inode && rewritten.size == read.size)
    #expect(rewritten.modified.tv_sec == read.modified.tv_sec && rewritten.modified.tv_nsec == read.modified.tv_nsec)
    fingerprint.file = rewritten
    let sameTick = loaded.recording(feed, as: .read(fingerprint))
    #expect(sameTick.compareWithFiles(trustingSettledFiles: true) == .changed(feed + " changed"))

    // Back to the bytes loaded, and checked 10 s on: read once, then trusted on a stat again.
    try Self.rewriteInPlace(feed, "evil.example\n", modified: read.modified)
    let checked = sameTick.comparedWithFiles(trustingSettledFiles: true, clock: Self.later)
    #expect(checked.comparison == .unchanged(files: 1))
    guard case .read(var refreshed) = checked.feeds.files[feed] else {
      Issue.record("the feed lost its fingerprint")
      return
    }
    refreshed.hash &+= 1
    #expect(checked.feeds.recording(feed, as: .read(refreshed)).checkedLater() == .unchanged(files: 1))
  }

  /// Not written since, but read within the window: every check reads it until one that reads it
  /// finds its times old enough. The clocks count from the file's change time, however long the
  /// test waits for a core.
  @Test func aFeedReadRightAfterItsWriteIsReadByEachCheckUntilItIsOld() throws {
    let directory = try FeedDirectory()
    let feed = try directory.write("a.domains.txt", "evil.example\n")
    let justAfter = try Self.reading(1, after: feed)
    let old = try Self.reading(10, after: feed)
    let loaded = try LoadedFeedsTests.load(directory, clock: { justAfter })
    guard case .read(var fingerprint) = loaded.files[feed] else {
      Issue.record("the feed was not fingerprinted")
      return
    }
    // A wrong hash shows whether a check read the file.
    fingerprint.hash &+= 1
    let misrecorded = loaded.recording(feed, as: .read(fingerprint))
    #expect(
      misrecorded.comparedWithFiles(trustingSettledFiles: true, clock: { justAfter }).comparison
        == .changed(feed + " changed"))
    let readAgainAtOnce = loaded.comparedWithFiles(trustingSettledFiles: true, clock: { justAfter })
    #expect(readAgainAtOnce.comparison == .unchanged(files: 1))
    #expect(
      readAgainAtOnce.feeds.recording(feed, as: .read(fingerprint)).comparedWithFiles(
        trustingSettledFiles: true, clock: { old }
      ).comparison == .changed(feed + " changed"))
    let readLater = loaded.comparedWithFiles(trustingSettledFiles: true, clock: { old })
    #expect(readLater.comparison == .unchanged(files: 1))
    #expect(
      readLater.feeds.recording(feed, as: .read(fingerprint)).comparedWithFiles(
        trustingSettledFiles: true, clock: { old.advanced(bySeconds: 300) }
      ).comparison == .unchanged(files: 1))
    // Feeds recorded without the moments they were read are read by a check before they are trusted.
    let unknownReads = LoadedFeeds(patterns: loaded.patterns, files: readLater.feeds.files)
    #expect(
      unknownReads.recording(feed, as: .read(fingerprint)).compareWithFiles(trustingSettledFiles: true)
        == .changed(feed + " changed"))
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

extension FeedCheckShortcutTests {
  /// Writes `text` over the file at `path` in place (same inode), then sets its access and
  /// modification times to `modified`.
  static func rewriteInPlace(_ path: String, _ text: String, modified: timespec) throws {
    let descriptor = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
    try #require(descriptor >= 0)
    defer { #expect(close(descriptor) == 0) }
    let bytes = Array(text.utf8)
    #expect(write(descriptor, bytes, bytes.count) == bytes.count)
    var times = [modified, modified]
    #expect(futimens(descriptor, &times) == 0)
  }
}

extension FeedClockReading {
  /// The moment `realtime`, on the boot clock too (as if read then).
  static func at(_ realtime: FileClockInstant) -> FeedClockReading {
    let now = FeedClockReading.now
    return FeedClockReading(realtime: realtime, sinceBoot: now.sinceBoot + realtime.since(now.realtime))
  }
}

extension LoadedFeeds {
  /// A periodic check's comparison 10 s on (`FeedCheckShortcutTests.later`).
  func checkedLater() -> Comparison {
    comparedWithFiles(trustingSettledFiles: true, clock: FeedCheckShortcutTests.later).comparison
  }

  /// These feeds with `path` recorded as `record`, read when it was.
  func recording(_ path: String, as record: RecordedFeed) -> LoadedFeeds {
    var files = files
    files[path] = record
    return LoadedFeeds(patterns: patterns, files: files, readStarts: readStarts)
  }
}

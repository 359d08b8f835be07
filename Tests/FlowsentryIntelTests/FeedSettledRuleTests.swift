import FlowsentryCore
import Foundation
import Synchronization
import Testing

@testable import FlowsentryIntel

/// What the periodic check trusts on a `stat` alone: a file whose times (the change time among them)
/// are settled before its read, measured on a wall clock that ran steadily since; the same rule for
/// the snapshot of feeds that failed to load; and the first read's start for a path two lists name.
@Suite struct FeedSettledRuleTests {
  /// A feed loaded 10 s after its change time, recorded under a wrong hash: a check that reads it
  /// says it changed, one that trusts its `stat` says it did not.
  static func misrecordedFeed(_ directory: FeedDirectory) throws -> (
    feeds: LoadedFeeds, feed: String, read: FeedClockReading
  ) {
    let feed = try directory.write("a.domains.txt", "evil.example\n")
    let read = try FeedCheckShortcutTests.reading(10, after: feed)
    let loaded = try LoadedFeedsTests.load(directory, clock: { read })
    guard case .read(var fingerprint) = loaded.files[feed] else { throw FingerprintMissing() }
    fingerprint.hash &+= 1
    return (loaded.recording(feed, as: .read(fingerprint)), feed, read)
  }

  struct FingerprintMissing: Error {}

  static func check(_ feeds: LoadedFeeds, at reading: FeedClockReading) -> LoadedFeeds.Comparison {
    feeds.comparedWithFiles(trustingSettledFiles: true, clock: { reading }).comparison
  }

  @Test func aWallClockSteppedSinceTheReadTrustsNothingUnread() throws {
    let directory = try FeedDirectory()
    let (feeds, feed, read) = try Self.misrecordedFeed(directory)
    let steady = read.advanced(bySeconds: 300)
    #expect(Self.check(feeds, at: steady) == .unchanged(files: 1))
    // Back before the read: a write now could carry times older than the read.
    var back = steady
    back.realtime = read.realtime.advanced(bySeconds: -60)
    #expect(Self.check(feeds, at: back) == .changed(feed + " changed"))
    // Still after the read, but stepped back by more than the tolerance (5 s of wall time in 300).
    var steppedBack = steady
    steppedBack.realtime = read.realtime.advanced(bySeconds: 5)
    #expect(Self.check(feeds, at: steppedBack) == .changed(feed + " changed"))
    // Stepped ahead by a minute.
    var steppedAhead = steady
    steppedAhead.realtime = steady.realtime.advanced(bySeconds: 60)
    #expect(Self.check(feeds, at: steppedAhead) == .changed(feed + " changed"))
    // Within the tolerance (a small correction): trusted.
    var slewed = steady
    slewed.sinceBoot += .milliseconds(150)
    #expect(Self.check(feeds, at: slewed) == .unchanged(files: 1))
  }

  /// `touch -d` an hour back leaves the change time at the write: the later of the two counts.
  @Test func anOldModificationTimeWithARecentChangeTimeIsNotTrusted() throws {
    let directory = try FeedDirectory()
    let feed = try directory.write("a.domains.txt", "evil.example\n")
    let loaded = try LoadedFeedsTests.load(directory, clock: { FeedClockReading.now.advanced(bySeconds: 10) })
    guard case .read(var fingerprint) = loaded.files[feed], let read = fingerprint.file else {
      Issue.record("the feed was not fingerprinted")
      return
    }
    var anHourBack = read.modified
    anHourBack.tv_sec -= 3600
    var times = [anHourBack, anHourBack]
    #expect(utimensat(AT_FDCWD, feed, &times, 0) == 0)
    // The identity as it is now, recorded as the one read, under a wrong hash, read 1 s after its
    // change: only the change time is within the window.
    let touched = try #require(FeedFileIdentity(path: feed))
    #expect(touched.modified.tv_sec == anHourBack.tv_sec)
    fingerprint.file = touched
    fingerprint.hash &+= 1
    let readAt = try FeedCheckShortcutTests.reading(1, after: feed)
    let feeds = LoadedFeeds(patterns: loaded.patterns, files: [feed: .read(fingerprint)], readStarts: [feed: readAt])
    #expect(Self.check(feeds, at: readAt.advanced(bySeconds: 300)) == .changed(feed + " changed"))
  }

  /// A path two lists name is read twice; the first read's start, the earlier, is the one kept.
  @Test func aPathReadTwiceKeepsItsFirstReadsStart() throws {
    let directory = try FeedDirectory()
    let feed = try directory.write("a.domains.txt", "evil.example\n")
    let first = try FeedCheckShortcutTests.reading(1, after: feed)
    let second = try FeedCheckShortcutTests.reading(10, after: feed)
    let reads = Atomic<Int>(0)
    let recorder = FeedFingerprintRecorder(clock: {
      reads.add(1, ordering: .relaxed).newValue == 1 ? first : second
    })
    for _ in 0..<2 {
      #expect(recorder.scanBeforeLoading(feed)?.bytes == 13)
      recorder.loaded(feed, bytesRead: 13)
    }
    #expect(reads.load(ordering: .relaxed) == 2)
    let loaded = LoadedFeeds(patterns: [feed], recorder: recorder)
    guard case .read(var fingerprint) = loaded.files[feed] else {
      Issue.record("the feed was not fingerprinted")
      return
    }
    fingerprint.hash &+= 1
    // Read 1 s after its change the first time: not settled, so read again, whatever the second said.
    let misrecorded = loaded.recording(feed, as: .read(fingerprint))
    #expect(Self.check(misrecorded, at: second.advanced(bySeconds: 300)) == .changed(feed + " changed"))
  }

  @Test func aSnapshotOfFilesNotSettledWhenTakenNeverMatches() throws {
    let directory = try FeedDirectory()
    let feed = try directory.write("a.domains.txt", "evil.example\n")
    let loaded = try LoadedFeedsTests.load(directory)
    // Taken 1 s after the write: a same-size rewrite in the same tick would leave the identities
    // equal, so equal ones prove nothing.
    let early = loaded.snapshotOfFiles(takenAt: try FeedCheckShortcutTests.reading(1, after: feed))
    let later = try FeedCheckShortcutTests.reading(300, after: feed)
    #expect(!early.matches(loaded.snapshotOfFiles(takenAt: later)))
    // Taken 10 s after it: settled, so the same identities match.
    let settled = loaded.snapshotOfFiles(takenAt: try FeedCheckShortcutTests.reading(10, after: feed))
    #expect(settled.matches(loaded.snapshotOfFiles(takenAt: later)))
    // Not across a wall clock stepped back.
    var steppedBack = later
    steppedBack.realtime = steppedBack.realtime.advanced(bySeconds: -120)
    #expect(!settled.matches(loaded.snapshotOfFiles(takenAt: steppedBack)))
    // A file written since, or added, does not match.
    try LoadedFeedsTests.replace(directory, "a.domains.txt", bytes: Array("live.example\n".utf8))
    #expect(!settled.matches(loaded.snapshotOfFiles(takenAt: later)))
  }
}

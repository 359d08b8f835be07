import FlowsentryCore
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Testing

/// The periodic feed check behind the watch: it finds what no watch reported (a feed directory
/// made after the load), counts nothing when nothing changed, and requests made meanwhile coalesce.
@Suite struct FeedPeriodicCheckTests {
  @Test func aCheckThatFindsNothingCountsNothing() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let reloader = chain.reloader()
    _ = await reloader.reload(cause: .signal)
    _ = reloader.takePending()
    // Renamed over with the same bytes: a new inode, so the check reads it, and finds it the same.
    try chain.replace("a.txt", "evil.example\n")
    guard case .feedsUnchanged(let files) = await reloader.checkFeeds() else {
      Issue.record("an unchanged feed reloaded")
      return
    }
    #expect(files == 1)
    #expect(FeedReloadSkipTests.counts(reloader) == (0, 0))
    try chain.replace("a.txt", "evil.example\nc2.example\n")
    guard case .reloaded(.loaded) = await reloader.checkFeeds() else {
      Issue.record("a changed feed did not reload")
      return
    }
    #expect(FeedReloadSkipTests.counts(reloader) == (1, 0))
    #expect(FeedReloadSkipTests.indicators(reloader) == 2)
  }

  @Test func aFeedDirectoryMadeAfterTheLoadIsFound() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let late = chain.directory + "/late"
    try """
    - list: {name: c2, type: domain, match: suffix, files: [late/*.txt], optional: true}
    - rule: {id: T-INTEL, name: listed, condition: remote_dns in c2}
    """.write(toFile: chain.rules, atomically: true, encoding: .utf8)
    let reloader = chain.reloader()
    _ = await reloader.reload(cause: .signal)
    #expect(FeedReloadSkipTests.indicators(reloader) == 0)
    guard case .feedsUnchanged = await reloader.checkFeeds() else {
      Issue.record("a glob that still matches nothing reloaded")
      return
    }
    // No watch could have seen this: the directory did not exist when the watch began.
    try FileManager.default.createDirectory(atPath: late, withIntermediateDirectories: false)
    try "evil.example\n".write(toFile: late + "/a.txt", atomically: true, encoding: .utf8)
    guard case .reloaded(.loaded) = await reloader.checkFeeds() else {
      Issue.record("a feed in a directory made after the load was not found")
      return
    }
    #expect(FeedReloadSkipTests.indicators(reloader) == 1)
  }

  @Test func aCheckDoesNotLoadAgainWhatFailedToLoadUntilAFeedChanges() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    // The feeds as the check finds them are trusted unwritten only once settled: 10 s on, they are.
    let reloader = chain.reloader(snapshotsAhead: 10)
    _ = await reloader.reload(cause: .signal)
    _ = reloader.takePending()
    // A file the glob matches cannot be read as a feed: the load fails.
    try FeedReloadSkipTests.writeUnloadableFeed(chain.directory + "/feeds/x.txt")
    guard case .reloaded(.failed) = await reloader.checkFeeds() else {
      Issue.record("a feed that cannot be read did not fail the load")
      return
    }
    #expect(FeedReloadSkipTests.counts(reloader) == (1, 0))
    guard case .unloadableAsBefore = await reloader.checkFeeds() else {
      Issue.record("the same unloadable feeds were loaded again")
      return
    }
    #expect(FeedReloadSkipTests.counts(reloader) == (1, 0))
    // A feed event still loads (and fails again); the check, once the feeds change, loads too.
    guard case .reloaded(.failed) = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("a feed event did not load")
      return
    }
    // Mended: the feeds are the running set's again, so there is nothing to load.
    try FileManager.default.removeItem(atPath: chain.directory + "/feeds/x.txt")
    guard case .feedsUnchanged = await reloader.checkFeeds() else {
      Issue.record("the mended feeds, the running set's, loaded")
      return
    }
    try chain.replace("b.txt", "other.example\n")
    guard case .reloaded(.loaded) = await reloader.checkFeeds() else {
      Issue.record("a new feed did not load")
      return
    }
    #expect(FeedReloadSkipTests.counts(reloader) == (3, 0))
    #expect(FeedReloadSkipTests.indicators(reloader) == 2)
  }

  @Test func aCheckFollowsTheFeedsOfListsASighupAdded() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    try "- rule: {id: T-PLAIN, name: plain, condition: dst_port == 4444}\n".write(
      toFile: chain.rules, atomically: true, encoding: .utf8)
    let reloader = chain.reloader()
    _ = await reloader.reload(cause: .signal)
    guard case .feedsUnchanged(let none) = await reloader.checkFeeds() else {
      Issue.record("a set without feeds reloaded")
      return
    }
    #expect(none == 0)
    try """
    - list: {name: c2, type: domain, match: suffix, files: [feeds/*.txt]}
    - rule: {id: T-INTEL, name: listed, condition: remote_dns in c2}
    """.write(toFile: chain.rules, atomically: true, encoding: .utf8)
    _ = await reloader.reload(cause: .signal)
    _ = reloader.takePending()
    try chain.replace("a.txt", "evil.example\nc2.example\n")
    guard case .reloaded(.loaded) = await reloader.checkFeeds() else {
      Issue.record("a feed of a list the SIGHUP added was not checked")
      return
    }
    #expect(FeedReloadSkipTests.indicators(reloader) == 2)
  }

  @Test func requestsCoalesceAndAFeedEventServesACheck() {
    let requests = FeedCheckRequests()
    #expect(requests.take() == nil)
    requests.notePeriodicCheck()
    requests.noteFeedEvent(paths: ["/f/b.txt"])
    requests.noteFeedEvent(paths: ["/f/a.txt", "/f/b.txt"])
    #expect(requests.take() == .feedEvent(paths: ["/f/a.txt", "/f/b.txt"]))
    #expect(requests.take() == nil)
    requests.notePeriodicCheck()
    requests.notePeriodicCheck()
    #expect(requests.take() == .periodicCheck)
    #expect(requests.take() == nil)
  }
}

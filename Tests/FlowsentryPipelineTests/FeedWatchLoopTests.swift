import FlowsentryCore
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Testing

/// The monitor's feed watch loop, with a real directory and real inotify events: a feed renamed
/// into place reloads, the same bytes again are skipped, a directory no watch covers is found by
/// the periodic check, and cancelling the loop ends it at once.
@Suite struct FeedWatchLoopTests {
  /// A loop over `chain`'s feeds, started after the monitor's first load, and its reports.
  final class RunningLoop {
    let reloader: RuleReloader
    let reports: AsyncStream<FeedWatchLoop.Report>
    let task: Task<Void, Never>
    private let timeout: Task<Void, Error>

    init(_ chain: FeedReloadSkipTests.Chain, checkInterval: Duration) async throws {
      reloader = chain.reloader()
      let rules = chain.rules
      let first = try #require(
        await reloader.loadFirst { try? RuleLoader.loadChain(builtIn: false, systemDirectory: nil, paths: [rules]) })
      let loop = FeedWatchLoop(
        reloader: reloader, patterns: first.intelLists.flatMap(\.filePatterns), checkInterval: checkInterval,
        settle: .milliseconds(100))
      let (reports, continuation) = AsyncStream.makeStream(of: FeedWatchLoop.Report.self)
      self.reports = reports
      task = Task {
        await loop.run { continuation.yield($0) }
        continuation.finish()
      }
      // A loop that reports nothing more ends the test instead of hanging it.
      timeout = Task {
        try await Task.sleep(for: .seconds(30))
        continuation.finish()
      }
    }

    deinit {
      task.cancel()
      timeout.cancel()
    }
  }

  @Test func aFeedRenamedIntoPlaceReloadsTheSameBytesAreSkippedAndCancellingEndsTheLoop() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let running = try await RunningLoop(chain, checkInterval: .seconds(3600))
    var reports = running.reports.makeAsyncIterator()
    // The check right after the watch starts: the feed read at the first load, unchanged.
    guard case .handled(.periodicCheck, .feedsUnchanged(1), loadStarted: false) = await reports.next() else {
      Issue.record("the first check did not find the feed unchanged")
      return
    }

    try chain.replace("a.txt", "evil.example\nc2.example\n")
    // The load is reported as it starts, before what it came to: the log says so at once.
    guard case .loading(.feedEvent(let starting)) = await reports.next() else {
      Issue.record("a feed renamed into place did not report its load starting")
      return
    }
    #expect(starting == [chain.feed])
    guard case .handled(.feedEvent(let paths), .reloaded(.loaded), loadStarted: true) = await reports.next() else {
      Issue.record("a feed renamed into place did not reload")
      return
    }
    #expect(paths == [chain.feed])
    #expect(FeedReloadSkipTests.indicators(running.reloader) == 2)
    #expect(FeedReloadSkipTests.counts(running.reloader) == (1, 0))

    try chain.replace("a.txt", "evil.example\nc2.example\n")
    // Nothing loads, so no start is reported.
    guard case .handled(.feedEvent(let again), .feedsUnchanged(1), loadStarted: false) = await reports.next() else {
      Issue.record("the same bytes renamed into place were not skipped (or reported a load starting)")
      return
    }
    #expect(again == [chain.feed])
    #expect(FeedReloadSkipTests.counts(running.reloader) == (1, 1))
    #expect(running.reloader.takePending() == nil)

    let cancelled = ContinuousClock.now
    running.task.cancel()
    await running.task.value
    #expect(ContinuousClock.now - cancelled < .seconds(2))
    #expect(await reports.next() == nil)
  }

  @Test func aFeedDirectoryNoWatchCoversIsFoundByThePeriodicCheck() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let late = chain.directory + "/late"
    try """
    - list: {name: c2, type: domain, match: suffix, files: [late/*.txt], optional: true}
    - rule: {id: T-INTEL, name: listed, condition: remote_dns in c2}
    """.write(toFile: chain.rules, atomically: true, encoding: .utf8)
    let running = try await RunningLoop(chain, checkInterval: .milliseconds(100))
    var reports = running.reports.makeAsyncIterator()
    guard case .unwatched(let directory, _) = await reports.next() else {
      Issue.record("a feed directory that does not exist was not reported unwatched")
      return
    }
    #expect(directory == late)
    guard case .handled(.periodicCheck, .feedsUnchanged(0), loadStarted: false) = await reports.next() else {
      Issue.record("the first check did not find the empty glob unchanged")
      return
    }

    try FileManager.default.createDirectory(atPath: late, withIntermediateDirectories: false)
    try "evil.example\n".write(toFile: late + "/a.txt", atomically: true, encoding: .utf8)
    // Checks that ran before the feed was written find nothing; one after it reloads, reporting its
    // load as it starts.
    var started = false
    while true {
      switch await reports.next() {
      case .handled(.periodicCheck, .feedsUnchanged(0), loadStarted: false) where !started: continue
      case .loading(.periodicCheck) where !started:
        started = true
        continue
      case .handled(.periodicCheck, .reloaded(.loaded), loadStarted: true) where started:
        #expect(FeedReloadSkipTests.indicators(running.reloader) == 1)
      case let other:
        Issue.record("a periodic check did not reload the feed: \(String(describing: other))")
      }
      break
    }

    running.task.cancel()
    await running.task.value
  }
}

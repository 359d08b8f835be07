import FlowsentryCore
import FlowsentryRules
import Foundation
import Synchronization
import Testing

@testable import FlowsentryIntel
@testable import FlowsentryPipeline

extension FeedReloadSkipTests.Chain {
  /// As `reloader()`, its snapshots of the feeds taken at `snapshotClock`; its comparison and its
  /// load are `compareFeeds` and `load` when given.
  func reloader(
    timeLimit: Duration = .seconds(60), snapshotClock: @escaping @Sendable () -> FeedClockReading,
    compareFeeds: (@Sendable (LoadedFeeds, Bool) -> RuleReloader.FeedComparison)? = nil,
    load: (@Sendable () -> Void)? = nil
  ) -> RuleReloader {
    RuleReloader(
      chain: .init(builtIn: false, paths: [rules]), timeLimit: timeLimit,
      load: { chain throws(RuleLoadError) in
        load?()
        return try RuleLoader.loadChain(builtIn: chain.builtIn, paths: chain.paths)
      },
      compareFeeds: compareFeeds ?? { feeds, trusting in feeds.comparedWithFiles(trustingSettledFiles: trusting) },
      snapshotFeeds: { $0.snapshotOfFiles(takenAt: snapshotClock()) })
  }

  /// As `reloader()`, its snapshots of the feeds taken `seconds` after the moment they are taken.
  func reloader(snapshotsAhead seconds: Int) -> RuleReloader {
    reloader(snapshotClock: { FeedClockReading.now.advanced(bySeconds: seconds) })
  }
}

/// A reload's caller cancelled (shutdown) is answered at once, whatever its load is doing; and a
/// periodic check does not load again feeds that failed only while they stay unwritten, measured
/// as the check's shortcut measures them.
@Suite struct FeedReloadCancelTests {
  @Test func aCancelledCallerIsAnsweredAtOnceAndTheReloaderStaysUsable() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let gate = LoadGate()
    let reloader = chain.reloader(
      snapshotClock: { .now },
      load: gate.pass)
    guard case .loaded = await reloader.reload(cause: .signal) else {
      Issue.record("the first load failed")
      return
    }
    _ = reloader.takePending()
    try chain.replace("a.txt", "evil.example\nc2.example\n")
    gate.arm()
    let change = Task { await reloader.reloadUnlessFeedsUnchanged() }
    guard await gate.entered() else {
      gate.release()
      return
    }
    let cancelled = ContinuousClock.now
    change.cancel()
    let outcome = await change.value
    // Answered well within the 60 s limit, the load still held.
    #expect(ContinuousClock.now - cancelled < .seconds(10))
    guard case .reloaded(.busy) = outcome else {
      Issue.record("a cancelled caller heard \(outcome)")
      gate.release()
      return
    }
    // The held load still holds the loader; once it ends, discarded, a reload loads.
    guard case .busy = await reloader.reload(cause: .signal) else {
      Issue.record("a reload started beside the held one")
      gate.release()
      return
    }
    #expect(reloader.takePending() == nil)
    gate.release()
    guard case .loaded(let rules) = await reloader.reloadAfterTheRunningOne(cause: .signal) else {
      Issue.record("no reload after the cancelled one")
      return
    }
    #expect(rules.intelLists.first?.indicators == 2)
    #expect(FeedReloadSkipTests.indicators(reloader) == 2)
  }

  /// The monitor's shutdown cancels the feed watch first: a loop whose load is held ends at once.
  @Test func aFeedWatchLoopCancelledDuringAHeldLoadEndsAtOnce() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let gate = LoadGate()
    defer { gate.release() }
    let reloader = chain.reloader(
      snapshotClock: { .now },
      load: gate.pass)
    let rules = chain.rules
    let first = try #require(
      await reloader.loadFirst { try? RuleLoader.loadChain(builtIn: false, systemDirectory: nil, paths: [rules]) })
    let loop = FeedWatchLoop(
      reloader: reloader, patterns: first.intelLists.flatMap(\.filePatterns), checkInterval: .seconds(3600),
      settle: .milliseconds(100))
    let (reports, continuation) = AsyncStream.makeStream(of: FeedWatchLoop.Report.self)
    let task = Task {
      await loop.run { continuation.yield($0) }
      continuation.finish()
    }
    var next = reports.makeAsyncIterator()
    guard case .handled(.periodicCheck, .feedsUnchanged(1), loadStarted: false) = await next.next() else {
      Issue.record("the first check did not find the feed unchanged")
      task.cancel()
      return
    }
    gate.arm()
    try chain.replace("a.txt", "evil.example\nc2.example\n")
    guard await gate.entered() else {
      task.cancel()
      return
    }
    let cancelled = ContinuousClock.now
    task.cancel()
    await task.value
    #expect(ContinuousClock.now - cancelled < .seconds(10))
    // Its start was reported (the load is held inside), then its end by shutdown.
    guard case .loading(.feedEvent) = await next.next(),
      case .handled(.feedEvent, .reloaded(.busy), loadStarted: true) = await next.next()
    else {
      Issue.record("the held feed event was not answered as ended by shutdown")
      return
    }
  }

  @Test func aCallerCancelledBeforeItsAttemptStartsNothing() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let loads = Atomic<Int>(0)
    let reloader = chain.reloader(snapshotClock: { .now }, load: { loads.add(1, ordering: .relaxed) })
    let outcome = await Task {
      withUnsafeCurrentTask { $0?.cancel() }
      return await reloader.reload(cause: .signal)
    }.value
    guard case .busy = outcome else {
      Issue.record("a cancelled caller heard \(outcome)")
      return
    }
    guard case .loaded = await reloader.reload(cause: .signal) else {
      Issue.record("the reloader was left busy")
      return
    }
    #expect(loads.load(ordering: .relaxed) == 1)
  }

  /// Feeds that failed to load, snapshotted within the file system clock's tick of their last
  /// write: a same-size rewrite in that tick would leave the snapshot equal, so the next check loads
  /// them again rather than trust it (in an unwatched directory nothing else would).
  @Test func feedsThatFailedRightAfterTheirWriteAreLoadedAgainByTheNextCheck() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let unreadable = chain.directory + "/feeds/x.txt"
    let feed = chain.feed
    // Each snapshot taken 1 s after the newest change time among the feeds, whenever the check runs.
    let reloader = chain.reloader(snapshotClock: {
      let newest = [feed, unreadable].compactMap { FeedFileIdentity(path: $0) }.map {
        FileClockInstant($0.changed)
      }.max()!
      let now = FeedClockReading.now
      let taken = newest.advanced(bySeconds: 1)
      return FeedClockReading(realtime: taken, sinceBoot: now.sinceBoot + taken.since(now.realtime))
    })
    _ = await reloader.reload(cause: .signal)
    _ = reloader.takePending()
    try FeedReloadSkipTests.writeUnloadableFeed(unreadable)
    for attempt in 1...2 {
      guard case .reloaded(.failed) = await reloader.checkFeeds() else {
        Issue.record("check \(attempt) did not load the feeds that failed right after their write")
        return
      }
    }
    #expect(FeedReloadSkipTests.counts(reloader) == (2, 0))
  }

  /// A comparison past its limit records the feeds as found: the next check neither compares nor
  /// loads them while they stay unwritten; a feed event still does.
  @Test func aCheckAfterAComparisonPastItsLimitLeavesTheSameFeedsAlone() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let comparisons = Atomic<Int>(0)
    let compared = DispatchSemaphore(value: 0)
    let held = Atomic<Bool>(false)
    let reloader = chain.reloader(
      timeLimit: .milliseconds(200), snapshotClock: { FeedClockReading.now.advanced(bySeconds: 10) },
      compareFeeds: { feeds, trusting in
        comparisons.add(1, ordering: .relaxed)
        if held.exchange(false, ordering: .acquiringAndReleasing) { compared.wait() }
        return feeds.comparedWithFiles(trustingSettledFiles: trusting)
      })
    reloader.setTimeLimit(.seconds(60))
    _ = await reloader.reload(cause: .signal)
    _ = reloader.takePending()
    try chain.replace("a.txt", "evil.example\nc2.example\n")
    reloader.setTimeLimit(.milliseconds(200))
    held.store(true, ordering: .releasing)
    guard case .comparisonTimedOut = await reloader.checkFeeds() else {
      Issue.record("a held comparison did not time out")
      compared.signal()
      return
    }
    reloader.setTimeLimit(.seconds(60))
    compared.signal()
    guard case .unloadableAsBefore = await reloader.checkFeeds() else {
      Issue.record("feeds not compared in time were compared again, unwritten")
      return
    }
    #expect(comparisons.load(ordering: .relaxed) == 1)
    #expect(FeedReloadSkipTests.counts(reloader) == (1, 0))
    guard case .reloaded(.loaded) = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("a feed event did not load")
      return
    }
    #expect(FeedReloadSkipTests.indicators(reloader) == 2)
  }
}

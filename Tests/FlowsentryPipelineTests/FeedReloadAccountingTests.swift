import FlowsentryCore
import FlowsentryIntel
import FlowsentryRules
import Foundation
import Synchronization
import Testing

@testable import FlowsentryPipeline

/// A feed change's reload is counted when it is asked for (its load starts), however it ends, and
/// the reload's time limit is the load's alone: hashing the feeds before it takes none of it.
/// A load (or a comparison) that, once armed, stops on the loader's thread until released: a feed
/// file system that hangs. The loader calls `pass()`; it holds the next call after `arm()` only.
final class LoadGate: Sendable {
  private let armed = Atomic<Bool>(false)
  private let held = DispatchSemaphore(value: 0)
  private let released = DispatchSemaphore(value: 0)

  func arm() { armed.store(true, ordering: .releasing) }

  func pass() {
    guard armed.exchange(false, ordering: .acquiringAndReleasing) else { return }
    held.signal()
    released.wait()
  }

  /// Whether the armed call is held now (waited for off the shared pool, at most 60 s; an issue
  /// recorded if not).
  func entered(sourceLocation: SourceLocation = #_sourceLocation) async -> Bool {
    await FeedReloadAccountingTests.wait(for: held, sourceLocation: sourceLocation)
  }

  func release() { released.signal() }
}

@Suite struct FeedReloadAccountingTests {
  static func feedChanges(_ reloader: RuleReloader) -> Double? {
    ReloadMetricsTests.value(reloader.samples, "flowsentry_rule_reloads_total", cause: "feed_change")
  }

  /// Waits, off the shared pool, for `semaphore`, at most `seconds`: false (an issue recorded) if
  /// it was not signalled by then.
  static func wait(
    for semaphore: DispatchSemaphore, seconds: Double = 60, sourceLocation: SourceLocation = #_sourceLocation
  ) async -> Bool {
    let signalled = await withCheckedContinuation { continuation in
      Thread {
        continuation.resume(returning: semaphore.wait(timeout: .now() + seconds) == .success)
      }.start()
    }
    if !signalled { Issue.record("not signalled within \(seconds) s", sourceLocation: sourceLocation) }
    return signalled
  }

  @Test func aFeedChangeIsCountedAsItsLoadStartsAndStaysCountedWhenItTimesOutOrFails() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let rules = chain.rules
    let gate = LoadGate()
    // The held load waits until it has timed out, however late the timer runs on a busy machine.
    let reloader = RuleReloader(chain: .init(builtIn: false, paths: []), timeLimit: .milliseconds(300)) {
      _ throws(RuleLoadError) in
      gate.pass()
      return try RuleLoader.loadChain(builtIn: false, systemDirectory: nil, paths: [rules])
    }
    #expect(
      await reloader.loadFirst { try? RuleLoader.loadChain(builtIn: false, systemDirectory: nil, paths: [rules]) }
        != nil)
    #expect(Self.feedChanges(reloader) == 0)

    try chain.replace("a.txt", "evil.example\nc2.example\n")
    gate.arm()
    let change = Task { await reloader.reloadUnlessFeedsUnchanged() }
    guard await gate.entered() else {
      gate.release()
      return
    }
    // Counted while it loads: a scrape during a long reload shows it asked for.
    #expect(Self.feedChanges(reloader) == 1)
    guard case .reloaded(.timedOut) = await change.value else {
      Issue.record("the held load did not time out")
      gate.release()
      return
    }
    #expect(Self.feedChanges(reloader) == 1)
    gate.release()
    // What follows must compare and load, however busy the machine.
    reloader.setTimeLimit(.seconds(60))

    // A file the glob matches cannot be read as a feed: the load fails, and was asked for.
    try FeedReloadSkipTests.writeUnloadableFeed(chain.directory + "/feeds/x.txt")
    guard case .reloaded(.failed) = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("a feed that cannot be read did not fail the load")
      return
    }
    #expect(Self.feedChanges(reloader) == 2)
    // A periodic check's load is counted as it starts too.
    gate.arm()
    try FileManager.default.removeItem(atPath: chain.directory + "/feeds/x.txt")
    try chain.replace("b.txt", "other.example\n")
    let check = Task { await reloader.checkFeeds() }
    guard await gate.entered() else {
      gate.release()
      return
    }
    #expect(Self.feedChanges(reloader) == 3)
    gate.release()
    _ = await check.value
    #expect(Self.feedChanges(reloader) == 3)
    #expect(ReloadMetricsTests.value(reloader.samples, "flowsentry_rule_reloads_total", cause: "signal") == 0)
  }

  /// A comparison and a load that each take most of the limit, and together more, load.
  @Test func theTimeLimitIsTheLoadsAloneNotTheComparisonsBeforeIt() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let rules = chain.rules
    // Each phase leaves 1.8 s of the limit for the real work and the threads' turns on a busy machine.
    let phase = Duration.milliseconds(2200)
    let reloader = RuleReloader(
      chain: .init(builtIn: false, paths: []), timeLimit: .seconds(4),
      load: { _ throws(RuleLoadError) in
        Thread.sleep(forTimeInterval: 2.2)
        return try RuleLoader.loadChain(builtIn: false, systemDirectory: nil, paths: [rules])
      },
      compareFeeds: { feeds, trustingSettledFiles in
        Thread.sleep(forTimeInterval: 2.2)
        return feeds.comparedWithFiles(trustingSettledFiles: trustingSettledFiles)
      })
    #expect(
      await reloader.loadFirst { try? RuleLoader.loadChain(builtIn: false, systemDirectory: nil, paths: [rules]) }
        != nil)
    try chain.replace("a.txt", "evil.example\nc2.example\n")
    let started = ContinuousClock.now
    guard case .reloaded(.loaded(let set)) = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("a load within its limit timed out because the comparison before it was counted")
      return
    }
    #expect(ContinuousClock.now - started >= phase * 2)
    #expect(set.intelLists.first?.indicators == 2)
    #expect(Self.feedChanges(reloader) == 1)
  }

  /// A comparison that never ends (a feed on a hung file system) answers its caller at the limit,
  /// as not compared (not as a load timed out), counted as a change asked for, and nothing loads
  /// after it.
  @Test func aComparisonPastItsLimitAnswersTimedOutAndLoadsNothing() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let rules = chain.rules
    let loads = Atomic<Int>(0)
    let compared = DispatchSemaphore(value: 0)
    let comparing = Atomic<Bool>(true)
    let reloader = RuleReloader(
      chain: .init(builtIn: false, paths: []), timeLimit: .milliseconds(200),
      load: { _ throws(RuleLoadError) in
        loads.add(1, ordering: .relaxed)
        return try RuleLoader.loadChain(builtIn: false, systemDirectory: nil, paths: [rules])
      },
      compareFeeds: { feeds, trustingSettledFiles in
        if comparing.exchange(false, ordering: .acquiringAndReleasing) { compared.wait() }
        return feeds.comparedWithFiles(trustingSettledFiles: trustingSettledFiles)
      })
    #expect(
      await reloader.loadFirst { try? RuleLoader.loadChain(builtIn: false, systemDirectory: nil, paths: [rules]) }
        != nil)
    try chain.replace("a.txt", "evil.example\nc2.example\n")
    guard case .comparisonTimedOut(.milliseconds(200)) = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("a comparison that never ended was waited for, or answered as a load")
      compared.signal()
      return
    }
    #expect(Self.feedChanges(reloader) == 1)
    // What follows must compare and load, however busy the machine.
    reloader.setTimeLimit(.seconds(60))
    compared.signal()
    // The next feed change waits for the late comparison to end, and loads: only it loaded.
    guard case .reloaded(.loaded) = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("no reload after the comparison that ran past its limit")
      return
    }
    #expect(loads.load(ordering: .relaxed) == 1)
    #expect(Self.feedChanges(reloader) == 2)
  }
}

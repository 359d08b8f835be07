import FlowsentryRules
import Foundation
import Synchronization
import Testing

@testable import FlowsentryPipeline

/// A reload tells its caller as its load starts, before the outcome, and only for a load that runs:
/// the monitor logs that start, and a start with no outcome after it would make the log lie.
@Suite struct ReloadStartTests {
  /// What the callers were told, in order, from whichever thread.
  final class Told: Sendable {
    private let events = Mutex<[String]>([])
    func note(_ event: String) { events.withLock { $0.append(event) } }
    var all: [String] { events.withLock { $0 } }
  }

  static func waitForFirstCall(_ gate: ReloadAfterTheRunningOneTests.GatedLoad) async throws {
    for _ in 0..<500 where gate.calls.load(ordering: .acquiring) == 0 { try await Task.sleep(for: .milliseconds(10)) }
    #expect(gate.calls.load(ordering: .acquiring) == 1)
  }

  @Test func aLoadIsToldAsItStartsBeforeItsOutcome() async throws {
    let gate = ReloadAfterTheRunningOneTests.GatedLoad()
    let reloader = RuleReloader(chain: .init(builtIn: false, paths: [])) { _ in gate.load() }
    let told = Told()
    let reload = Task { await reloader.reload(cause: .signal) { told.note("start") } }
    try await Self.waitForFirstCall(gate)
    // The load is held: the start has been told, the outcome cannot have been.
    #expect(told.all == ["start"])
    gate.firstReleased.signal()
    guard case .loaded = await reload.value else {
      Issue.record("the reload did not load")
      return
    }
    #expect(told.all == ["start"])
  }

  /// SIGHUPs during a load wait for it: each is told when its own load starts, and one cancelled
  /// while it waits (shutdown) is never told, since it never loads.
  @Test func aReloadWaitingForTheRunningOneIsToldOnlyWhenItsOwnLoadStarts() async throws {
    let gate = ReloadAfterTheRunningOneTests.GatedLoad()
    let reloader = RuleReloader(chain: .init(builtIn: false, paths: [])) { _ in gate.load() }
    let told = Told()
    let running = Task { await reloader.reload(cause: .feedChange) { told.note("running") } }
    try await Self.waitForFirstCall(gate)
    let waiting = Task { await reloader.reloadAfterTheRunningOne(cause: .signal) { told.note("waiting") } }
    let cancelled = Task { await reloader.reloadAfterTheRunningOne(cause: .signal) { told.note("cancelled") } }
    try await Task.sleep(for: .milliseconds(300))
    #expect(told.all == ["running"])
    cancelled.cancel()
    guard case .busy = await cancelled.value else {
      Issue.record("a reload cancelled while it waited loaded")
      return
    }
    gate.firstReleased.signal()
    guard case .loaded = await running.value, case .loaded = await waiting.value else {
      Issue.record("a reload did not load")
      return
    }
    #expect(told.all == ["running", "waiting"])
    #expect(gate.calls.load(ordering: .acquiring) == 2)
  }

  /// A feed change that loads nothing (its feeds unchanged) is not told; one that loads is.
  @Test func aFeedChangeIsToldOnlyWhenItLoads() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let reloader = chain.reloader()
    guard case .loaded = await reloader.reload(cause: .signal) else {
      Issue.record("the first load failed")
      return
    }
    let told = Told()
    guard case .feedsUnchanged = await reloader.reloadUnlessFeedsUnchanged(onLoadStart: { told.note("event") }),
      case .feedsUnchanged = await reloader.checkFeeds(onLoadStart: { told.note("check") })
    else {
      Issue.record("unchanged feeds were loaded again")
      return
    }
    #expect(told.all.isEmpty)

    try chain.replace("a.txt", "evil.example\nc2.example\n")
    guard case .reloaded(.loaded) = await reloader.checkFeeds(onLoadStart: { told.note("check") }) else {
      Issue.record("a changed feed did not reload")
      return
    }
    #expect(told.all == ["check"])
  }

  /// A comparison past its limit loads nothing, neither then nor when it ends late: not told.
  @Test func aComparisonPastItsLimitIsNotTold() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let rules = chain.rules
    let compared = DispatchSemaphore(value: 0)
    let comparisonEnded = DispatchSemaphore(value: 0)
    let reloader = RuleReloader(
      chain: .init(builtIn: false, paths: [rules]), timeLimit: .milliseconds(200),
      load: { chain throws(RuleLoadError) in
        try RuleLoader.loadChain(builtIn: false, systemDirectory: nil, paths: chain.paths)
      },
      compareFeeds: { feeds, trustingSettledFiles in
        compared.wait()
        defer { comparisonEnded.signal() }
        return feeds.comparedWithFiles(trustingSettledFiles: trustingSettledFiles)
      })
    #expect(
      await reloader.loadFirst { try? RuleLoader.loadChain(builtIn: false, systemDirectory: nil, paths: [rules]) }
        != nil)
    try chain.replace("a.txt", "evil.example\nc2.example\n")
    let told = Told()
    guard case .comparisonTimedOut = await reloader.reloadUnlessFeedsUnchanged(onLoadStart: { told.note("event") })
    else {
      Issue.record("a comparison that never ended was waited for")
      compared.signal()
      return
    }
    compared.signal()
    comparisonEnded.wait()
    // The loader thread, past the comparison, decides not to load right after it: give it the time.
    try await Task.sleep(for: .milliseconds(200))
    #expect(told.all.isEmpty)
  }
}

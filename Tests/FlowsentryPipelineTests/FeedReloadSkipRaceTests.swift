import FlowsentryCore
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Synchronization
import Testing

/// A feed change during a reload is compared with the set that reload made, not the one before:
/// the bytes that reload read are the running ones once it ends.
@Suite struct FeedReloadSkipRaceTests {
  /// A chain load held at a gate, either before it reads the files or after.
  final class GatedChain: Sendable {
    let rules: String
    let holdsBeforeReading: Bool
    let entered = DispatchSemaphore(value: 0)
    let released = DispatchSemaphore(value: 0)
    let gated = Atomic<Bool>(false)

    init(rules: String, holdsBeforeReading: Bool) {
      self.rules = rules
      self.holdsBeforeReading = holdsBeforeReading
    }

    /// Holds only the load that `gated` was set for.
    func load() throws(RuleLoadError) -> RuleSet {
      let holds = gated.exchange(false, ordering: .acquiringAndReleasing)
      if holds && holdsBeforeReading { hold() }
      let set = try RuleLoader.loadChain(builtIn: false, systemDirectory: nil, paths: [rules])
      if holds && !holdsBeforeReading { hold() }
      return set
    }

    private func hold() {
      entered.signal()
      released.wait()
    }
  }

  /// Starts a SIGHUP reload held at the gate, replaces the feed while it is held, asks for the feed
  /// change's reload, then releases the first.
  static func feedChangeDuringAReload(holdsBeforeReading: Bool) async throws -> RuleReloader.FeedChangeOutcome {
    let chain = try FeedReloadSkipTests.Chain()
    let gate = GatedChain(rules: chain.rules, holdsBeforeReading: holdsBeforeReading)
    let reloader = RuleReloader(chain: .init(builtIn: false, paths: [])) { _ throws(RuleLoadError) in
      try gate.load()
    }
    _ = await reloader.reload(cause: .signal)
    gate.gated.store(true, ordering: .releasing)
    let held = Task { await reloader.reload(cause: .signal) }
    await withCheckedContinuation { continuation in
      Thread {
        gate.entered.wait()
        continuation.resume()
      }.start()
    }
    try chain.replace("a.txt", "evil.example\nc2.example\n")
    let feedChange = Task { await reloader.reloadUnlessFeedsUnchanged() }
    try await Task.sleep(for: .milliseconds(200))
    gate.released.signal()
    guard case .loaded = await held.value else {
      Issue.record("the held reload did not load")
      return .reloaded(.busy)
    }
    return await feedChange.value
  }

  @Test func aChangeTheRunningReloadReadIsSkippedAfterIt() async throws {
    guard case .feedsUnchanged(1) = try await Self.feedChangeDuringAReload(holdsBeforeReading: true) else {
      Issue.record("a feed the running reload read again was loaded a second time")
      return
    }
  }

  @Test func aChangeAfterTheRunningReloadReadItReloads() async throws {
    guard case .reloaded(.loaded) = try await Self.feedChangeDuringAReload(holdsBeforeReading: false) else {
      Issue.record("a feed replaced after the running reload read it was not loaded")
      return
    }
  }

  /// A load that timed out is discarded with the feeds it read: the running set's stay.
  @Test func aReloadThatTimedOutLeavesTheRunningSetsFeeds() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let rules = chain.rules
    let held = Atomic<Bool>(false)
    let released = DispatchSemaphore(value: 0)
    // Held after reading until it has timed out, however late the timer runs on a busy machine.
    let reloader = RuleReloader(chain: .init(builtIn: false, paths: []), timeLimit: .milliseconds(100)) {
      _ throws(RuleLoadError) in
      let set = try RuleLoader.loadChain(builtIn: false, systemDirectory: nil, paths: [rules])
      if held.exchange(false, ordering: .acquiringAndReleasing) { released.wait() }
      return set
    }
    // The first set without a time limit, as the monitor's is.
    #expect(
      await reloader.loadFirst { try? RuleLoader.loadChain(builtIn: false, systemDirectory: nil, paths: [rules]) }
        != nil)
    try chain.replace("a.txt", "evil.example\nc2.example\n")
    held.store(true, ordering: .releasing)
    guard case .timedOut = await reloader.reload(cause: .signal) else {
      Issue.record("the held load did not time out")
      released.signal()
      return
    }
    released.signal()
    // Waits for the late load to end, then compares with the running set's feeds.
    guard case .reloaded(.loaded) = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("the feeds of a discarded load were taken for the running set's")
      return
    }
    #expect(reloader.takePending()?.intelLists.first?.indicators == 2)
  }
}

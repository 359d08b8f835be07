import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Synchronization
import Testing

/// A feed replaced while another reload runs is loaded again once that one ends: the running load
/// may have read the feed before it changed.
@Suite struct ReloadAfterTheRunningOneTests {
  /// A load that blocks its first call until released, and counts its calls.
  final class GatedLoad: Sendable {
    let calls = Atomic<Int>(0)
    let firstReleased = DispatchSemaphore(value: 0)

    func load() -> RuleSet {
      if calls.add(1, ordering: .acquiringAndReleasing).newValue == 1 { firstReleased.wait() }
      return .empty
    }
  }

  @Test func aChangeDuringAReloadLoadsAgainAfterIt() async throws {
    let gate = GatedLoad()
    let reloader = RuleReloader(chain: .init(builtIn: false, paths: [])) { _ in gate.load() }
    let first = Task { await reloader.reload(cause: .signal) }
    for _ in 0..<500 where gate.calls.load(ordering: .acquiring) == 0 { try await Task.sleep(for: .milliseconds(10)) }
    #expect(gate.calls.load(ordering: .acquiring) == 1)

    // A plain reload now finds the loader taken; the feed's reload waits for it instead.
    guard case .busy = await reloader.reload(cause: .signal) else {
      Issue.record("a second load started beside the running one")
      return
    }
    let afterIt = Task { await reloader.reloadAfterTheRunningOne(cause: .feedChange) }
    try await Task.sleep(for: .milliseconds(300))
    #expect(gate.calls.load(ordering: .acquiring) == 1)
    gate.firstReleased.signal()

    guard case .loaded = await first.value, case .loaded = await afterIt.value else {
      Issue.record("a reload did not load")
      return
    }
    #expect(gate.calls.load(ordering: .acquiring) == 2)
    #expect(reloader.reloads(by: .feedChange) == 1)
    #expect(reloader.reloads(by: .signal) == 2)
  }

  @Test func cancelledWhileWaitingItLoadsNothing() async throws {
    let gate = GatedLoad()
    let reloader = RuleReloader(chain: .init(builtIn: false, paths: [])) { _ in gate.load() }
    let first = Task { await reloader.reload(cause: .signal) }
    for _ in 0..<500 where gate.calls.load(ordering: .acquiring) == 0 { try await Task.sleep(for: .milliseconds(10)) }
    let afterIt = Task { await reloader.reloadAfterTheRunningOne(cause: .feedChange) }
    try await Task.sleep(for: .milliseconds(200))
    afterIt.cancel()
    guard case .busy = await afterIt.value else {
      Issue.record("a cancelled wait loaded")
      return
    }
    gate.firstReleased.signal()
    _ = await first.value
    #expect(gate.calls.load(ordering: .acquiring) == 1)
  }
}

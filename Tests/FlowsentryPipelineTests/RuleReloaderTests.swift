import FlowsentryCore
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Synchronization
import Testing

/// SIGHUP's reload without a kernel: whatever a rule file holds, the running set stays unless a
/// new one validates, and a slow load never holds the caller past its limit.
@Suite struct RuleReloaderTests {
  /// A directory with one rule file, removed at the end of the test.
  final class RuleDirectory {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-reloader-\(UUID().uuidString)").path

    init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ text: String) throws {
      try text.write(toFile: path + "/rules.yaml", atomically: true, encoding: .utf8)
    }
  }

  static func rule(condition: String, extra: String = "") -> String {
    """
    - rule:
        id: HOSTILE
        name: a rule file written to hurt
        events: [net_flow_tcp_begin]
        condition: \(condition)
    \(extra)
    """
  }

  static let valid = rule(condition: "dst_port == 443")

  @Test func aValidFileIsOfferedOnceForTheNextBatch() async throws {
    let directory = try RuleDirectory()
    try directory.write(Self.valid)
    let reloader = RuleReloader(chain: .init(builtIn: false, paths: [directory.path]))
    guard case .loaded(let rules) = await reloader.reload() else {
      Issue.record("a valid file did not load")
      return
    }
    #expect(rules.rules.map(\.id) == ["HOSTILE"])
    #expect(reloader.takePending()?.rules.map(\.id) == ["HOSTILE"])
    #expect(reloader.takePending() == nil)
  }

  /// Each of these once stopped or could stop a monitor on SIGHUP; none may now, and none is
  /// offered in place of the running set.
  @Test(arguments: [
    ("huge numbers", rule(condition: "dst_port == 99999999999999999999999999999")),
    (
      "a huge threshold",
      rule(
        condition: "dst_port == 1",
        extra: "    threshold: {count: 99999999999999999999999, window: 99999999999999999999d}")
    ),
    ("not YAML", "- rule: [\n"),
  ])
  func aBrokenFileKeepsTheRunningSetAndSaysWhere(_ name: String, _ text: String) async throws {
    let directory = try RuleDirectory()
    try directory.write(text)
    let reloader = RuleReloader(chain: .init(builtIn: false, paths: [directory.path]))
    guard case .failed(let diagnostics) = await reloader.reload() else {
      Issue.record("\(name): loaded")
      return
    }
    #expect(diagnostics.contains { $0.severity == .error && $0.file.hasSuffix("rules.yaml") }, "\(name)")
    #expect(reloader.takePending() == nil)
  }

  /// Deep nesting recurses in the condition parser: on the loader's own large stack it ends as an
  /// error or a set, never as a crash of the process.
  @Test(arguments: [
    ("parentheses", String(repeating: "(", count: 20_000) + "dst_port == 1" + String(repeating: ")", count: 20_000)),
    ("negations", String(repeating: "not ", count: 20_000) + "dst_port == 1"),
  ])
  func deepNestingEndsWithoutACrash(_ name: String, _ condition: String) async throws {
    let directory = try RuleDirectory()
    try directory.write(Self.rule(condition: condition))
    let reloader = RuleReloader(chain: .init(builtIn: false, paths: [directory.path]))
    switch await reloader.reload() {
    case .loaded(let rules): #expect(reloader.takePending()?.rules.count == rules.rules.count)
    case .failed(let diagnostics): #expect(!diagnostics.isEmpty && reloader.takePending() == nil)
    case .timedOut, .busy: Issue.record("\(name): no outcome")
    }
  }

  @Test func aSlowLoadIsAbandonedAtItsLimitAndItsLateResultDiscarded() async throws {
    let release = Mutex(false)
    let finished = Atomic<Bool>(false)
    let reloader = RuleReloader(chain: .init(builtIn: false, paths: []), timeLimit: .milliseconds(100)) { _ in
      while !release.withLock({ $0 }) { usleep(1000) }
      finished.store(true, ordering: .releasing)
      return .empty
    }
    let started = ContinuousClock.now
    guard case .timedOut = await reloader.reload() else {
      Issue.record("a load that never ends was waited for")
      return
    }
    #expect(ContinuousClock.now - started < .seconds(5))
    // One load at a time: a second SIGHUP does not start another thread beside the stuck one.
    guard case .busy = await reloader.reload() else {
      Issue.record("a second load started while the first was running")
      return
    }
    release.withLock { $0 = true }
    while !finished.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(5)) }
    try await Task.sleep(for: .milliseconds(50))
    #expect(reloader.takePending() == nil, "a load that came too late replaced the running set")
    // Once it has ended, the next reload runs.
    guard case .loaded = await reloader.reload() else {
      Issue.record("no reload after the slow one ended")
      return
    }
  }
}

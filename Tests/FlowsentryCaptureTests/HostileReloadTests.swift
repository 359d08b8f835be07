import FlowsentryCore
import Foundation
import Testing

/// A SIGHUP with a rule file written to hurt: the monitor keeps running, keeps rules that fire,
/// and stops cleanly afterwards.
@Suite(.serialized, .enabled(if: BPFTestEnvironment.enabled, BPFTestEnvironment.skipReason))
struct HostileReloadTests {
  @Test func hostileRuleFilesOnSighupLeaveTheMonitorRunningWithRulesThatFire() async throws {
    try BPFTestEnvironment.requireAvailable()
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-hostile-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("rules.yaml")
    func write(condition: String, extra: String = "") throws {
      try """
      - rule:
          id: RELOAD
          name: connection to the test port
          events: [net_flow_tcp_begin]
          condition: \(condition)
      \(extra)
      """.write(to: file, atomically: true, encoding: .utf8)
    }
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let listener = try cgroup.withMembership { try TestSocket(.v4) }
    try listener.bind("127.0.0.1")
    try listener.listen()
    let port = listener.localEndpoint.port
    let matchesTheListener = "conn_direction == outgoing and dst_port == \(port)"
    try write(condition: matchesTheListener)
    let monitor = try MonitorProcess([
      "monitor", "--cgroup", cgroup.path, "--no-default-rules", "--rules", directory.path,
    ])
    defer { monitor.kill() }
    try await monitor.waitUntilAttached()

    // Numbers no field holds: refused with a position, the running set kept.
    try write(
      condition: "dst_port == 99999999999999999999999999999",
      extra: "    threshold: {count: 99999999999999999999999, window: 99999999999999999999d}")
    monitor.signal(SIGHUP)
    try await monitor.waitForStderr("keeping the current ones", occurrences: 1)
    #expect(monitor.stderr.contains("rules.yaml:5:"), "\(monitor.stderr)")

    // Nesting thousands deep, around the same condition: refused or loaded, the monitor lives
    // and the rule still fires either way.
    let depth = 20_000
    try write(
      condition: String(repeating: "not not ", count: depth / 2) + String(repeating: "(", count: depth)
        + matchesTheListener + String(repeating: ")", count: depth))
    monitor.signal(SIGHUP)
    try await monitor.waitForStderr(anyOf: ["rules reloaded", "keeping the current ones"], occurrences: 2)

    try listener.acceptOneConnection(from: cgroup)
    let alerts = try await monitor.alerts(including: ["RELOAD"])
    #expect(alerts.count == 1)
    monitor.signal(SIGTERM)
    #expect(try await monitor.exitStatus() == 0)
  }
}

extension MonitorProcess {
  /// Waits until stderr holds `text` at least `occurrences` times.
  func waitForStderr(_ text: String, occurrences: Int) async throws {
    try await waitForStderr(anyOf: [text], occurrences: occurrences)
  }

  /// Waits until the texts together occur at least `occurrences` times on stderr.
  func waitForStderr(anyOf texts: [String], occurrences: Int) async throws {
    let deadline = ContinuousClock.now + .seconds(30)
    func count() -> Int {
      let text = stderr
      return texts.reduce(0) { $0 + text.components(separatedBy: $1).count - 1 }
    }
    while count() < occurrences {
      guard ContinuousClock.now < deadline else {
        throw MissingValue(description: "not \(occurrences) of \(texts) on stderr: \(stderr)")
      }
      try await Task.sleep(for: .milliseconds(20))
    }
  }
}

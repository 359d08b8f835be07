import Foundation
import Testing

/// A SIGHUP that comes while another load runs is served after it, never refused: that load may
/// have read the files before the operator's edit (or been a feed check that loads nothing).
@Suite(.serialized, .enabled(if: BPFTestEnvironment.enabled, BPFTestEnvironment.skipReason))
struct SignalDuringLoadTests {
  @Test func aSecondSIGHUPDuringALoadReloadsAfterIt() async throws {
    try BPFTestEnvironment.requireAvailable()
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-sighup-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    // A feed large enough that a load takes a second or more (debug build), for the second signal
    // to land inside it.
    var feed = ""
    feed.reserveCapacity(300_000 * 28)
    for index in 0..<300_000 { feed += "host\(index).example\(index % 977).test\n" }
    try feed.write(to: directory.appendingPathComponent("big.domains.txt"), atomically: true, encoding: .utf8)
    try """
    - list: {name: big, type: domain, match: suffix, files: [big.domains.txt]}
    - rule:
        id: BIG
        name: a listed lookup
        events: [net_packet_dns]
        condition: dns.questions in big
    """.write(to: directory.appendingPathComponent("rules.yaml"), atomically: true, encoding: .utf8)
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let monitor = try MonitorProcess([
      "monitor", "--cgroup", cgroup.path, "--no-default-rules", "--rules", directory.path, "--events", "none",
    ])
    defer { monitor.kill() }
    try await monitor.waitUntilAttached()

    monitor.signal(SIGHUP)
    try await Task.sleep(for: .milliseconds(200))
    monitor.signal(SIGHUP)
    try await monitor.waitForStderr("rules reloaded", occurrences: 2)
    #expect(!monitor.stderr.contains("still running"), "\(monitor.stderr)")
    // The second signal's start is said when its load starts, after the first one's outcome: no
    // start is said for a load that has not begun.
    let start = "reloading rules (SIGHUP)"
    let outcome = "rules reloaded (SIGHUP)"
    #expect(monitor.stderrOrder([start, outcome]) == [start, outcome, start, outcome], "\(monitor.stderr)")
    monitor.signal(SIGTERM)
    #expect(try await monitor.exitStatus() == 0)
  }
}

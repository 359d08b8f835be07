import FlowsentryTestSupport
import Foundation
import Testing

/// What the summary on stderr says of a recording's replay.
extension RecordingInputTests {
  /// Alerts a rule's suppression folded are counted in the summary, per rule, as docs/RULES.md
  /// says the exit summary does.
  @Test func foldedAlertsAreCountedPerRule() throws {
    let directory = try temporaryDirectory("rec-folded")
    defer { try? FileManager.default.removeItem(at: directory) }
    let rules = directory.appendingPathComponent("rules.yaml").path
    try """
    - rule:
        id: FOLD-ME
        name: every connection to port 443
        events: [net_flow_tcp_begin]
        condition: dst_port == 443
        suppress: {window: 1h, by: [remote]}

    """.write(toFile: rules, atomically: true, encoding: .utf8)
    let path = directory.appendingPathComponent("day.rec").path
    let lines = (0..<4).map { Self.line($0, seconds: Int64($0) * 60) }
    try write(Array((lines.joined(separator: "\n") + "\n").utf8), path)
    let result = try replay(["--rules", rules, "--events", "none", path])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(
      result.stderr.contains("alerts 1 (FOLD-ME 1), folded by suppression 3 (FOLD-ME 3), "), "\(result.stderr)")
  }
}

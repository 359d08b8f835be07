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

  /// A recording's summary says what it held, by kind, and not the packets, flows and lookups a
  /// capture's would (the tracker and the DNS matcher see none of a recording); counts are
  /// pluralised as they fall.
  @Test func aRecordingsSummarySaysWhatItHeld() throws {
    let directory = try temporaryDirectory("rec-summary")
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("day.rec").path
    let lines = [Self.line(1), Self.line(2, seconds: 1), Self.line(3, seconds: 2, event: "net_flow_tcp_half_open")]
    try write(Array((lines.joined(separator: "\n") + "\n").utf8), path)
    let result = try replay(["--events", "none", path])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stderr.contains("flowsentry: replay: 1 recording, "), "\(result.stderr)")
    #expect(
      result.stderr.contains(
        "recorded events 3, malformed lines 0, skipped lines: alerts 0, unknown events 0; "
          + "by kind: net_flow_tcp_begin 2, net_flow_tcp_half_open 1; events printed 0"), "\(result.stderr)")
    #expect(!result.stderr.contains("packets"), "\(result.stderr)")
    #expect(!result.stderr.contains("flows: begin"), "\(result.stderr)")
  }
}

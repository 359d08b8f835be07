import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryTestSupport
import Foundation
import Testing

extension RecordingInputTests {
  /// Alert lines and events this version does not know are not re-run, and are counted by reason,
  /// the first unknown event named with its position.
  @Test func skippedLinesAreCountedByReason() throws {
    let directory = try temporaryDirectory("rec-skipped")
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("mixed.rec").path
    let lines = [
      Self.line(1), Self.alertLine, Self.line(2, event: "net_packet_http"), Self.line(3, event: "net_packet_http"),
      Self.line(4, seconds: 1),
    ]
    try write(Array((lines.joined(separator: "\n") + "\n").utf8), path)
    let result = try replay(["--events", "none", path])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stderr.contains("skipped lines: alerts 1, unknown events 2"), "\(result.stderr)")
    #expect(
      result.stderr.contains(
        "\(path):3: 2 lines of events unknown to this version skipped, the first here (net_packet_http)"),
      "\(result.stderr)")
  }
}

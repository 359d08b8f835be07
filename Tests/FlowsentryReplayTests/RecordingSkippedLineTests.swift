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

extension RecordingInputTests {
  /// A retro-hunt says what each list read from its feeds: a glob that matched nothing (a typo; an
  /// optional list is silent at load) shows before the summary's "alerts 0".
  @Test func eachListsFeedsAreSaidAndAGlobMatchingNothingShows() throws {
    let directory = try temporaryDirectory("rec-lists")
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("day.rec").path
    try write(Array((Self.line(1) + "\n").utf8), path)
    try write(Array("a.example\n".utf8), directory.appendingPathComponent("today.domains.txt").path)
    let rules = directory.appendingPathComponent("hunt.yaml").path
    try write(
      Array(
        """
        - list: {name: found, type: domain, files: [today.domains.txt], format: lines}
        - list: {name: typo, type: domain, files: ["*.domain.txt"], format: lines, optional: true}
        - rule: {id: H-1, name: hunt, events: [net_flow_tcp_begin], condition: remote_dns in found or remote_dns in typo}

        """.utf8), rules)
    let result = try replay(["--rules", rules, "--events", "none", path])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stderr.contains("list found (domain, exact) at \(rules):1:9: 1 indicator"), "\(result.stderr)")
    #expect(result.stderr.contains("1 file,"), "\(result.stderr)")
    #expect(
      result.stderr.contains("list typo (domain, exact) at \(rules):2:9: 0 indicators"), "\(result.stderr)")
    #expect(result.stderr.contains("no file matched \(directory.path)/*.domain.txt"), "\(result.stderr)")
  }
}

extension RecordingInputTests {
  /// A byte order mark before line 1 is skipped, and a column on that line still counts its three
  /// bytes, as the file holds them.
  @Test func aColumnAfterAByteOrderMarkCountsIt() throws {
    let directory = try temporaryDirectory("rec-bom-column")
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("bom.rec").path
    try write([0xEF, 0xBB, 0xBF] + Array(#"{"a":1,}"#.utf8) + [0x0A] + Array((Self.line(1) + "\n").utf8), path)
    let result = try replay(["--events", "none", path])
    #expect(result.stderr.contains("\(path):1:11: malformed lines first here"), "\(result.stderr)")
  }
}

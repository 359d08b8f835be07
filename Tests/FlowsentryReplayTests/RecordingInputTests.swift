import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryTestSupport
import Foundation
import Testing

/// Recordings as a retro-hunt finds them on disk: rotated sets with an empty newest file, lines
/// written by other tools or versions, files given in the order a shell's glob sorts them.
@Suite struct RecordingInputTests {
  /// 2026-12-07T10:00:00Z, in nanoseconds.
  static let start: Int64 = 1_796_637_600_000_000_000

  /// A begin (or, with `event`, a line naming that event) `seconds` after `start`.
  static func line(
    _ index: Int, seconds: Int64 = 0, event: String = "net_flow_tcp_begin", version: Int = 1, host: String = "h"
  ) -> String {
    "{\"schema_version\":\(version),\"event\":\"\(event)\",\"time\":\"2026-12-07T10:00:00.000000000Z\","
      + "\"timestamp_ns\":\(start + seconds * 1_000_000_000),\"host\":\"\(host)\",\"cgroup_id\":1,"
      + "\"socket_cookie\":\(100 + index),\"process\":{\"pid\":100,\"comm\":\"curl\",\"uid\":0},"
      + "\"args\":{\"conn_direction\":\"outgoing\",\"src\":\"10.0.0.5\",\"dst\":\"192.0.2.10\","
      + "\"src_port\":\(40_000 + index),\"dst_port\":443,\"community_id\":\"1:x\",\"src_dns\":[],"
      + "\"dst_dns\":[\"a.example\"]}}"
  }

  static let alertLine = #"{"schema_version":1,"type":"alert","alert_id":"x","rule":{"id":"FS-NET-001"},"events":[]}"#

  /// A fresh directory, removed by `body`'s caller through the returned cleanup.
  func temporaryDirectory(_ name: String) throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "fs-\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
  }

  func write(_ bytes: [UInt8], _ path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
  }

  func replay(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let result = try ChildProcess.run(
      flowsentryBinary, ["replay", "--no-default-rules", "--log-format", "text"] + arguments)
    return (result.status, result.stdout, result.stderr)
  }

  /// `monitor --record` creates its file empty at start and after each rotation; a shell, an editor
  /// or another tool may add a blank line or a byte order mark. None of them is a capture.
  @Test func emptyBlankLedAndBOMFilesAreRecordingsAndOtherContentIsNamed() throws {
    let directory = try temporaryDirectory("rec-input")
    defer { try? FileManager.default.removeItem(at: directory) }
    let empty = directory.appendingPathComponent("empty.rec").path
    let newline = directory.appendingPathComponent("newline.rec").path
    let blankFirst = directory.appendingPathComponent("blank-first.rec").path
    let bom = directory.appendingPathComponent("bom.rec").path
    let zip = directory.appendingPathComponent("events.zip").path
    try write([], empty)
    try write([0x0A], newline)
    try write(Array(("\n \r\n\t\n" + Self.line(1) + "\n").utf8), blankFirst)
    try write([0xEF, 0xBB, 0xBF] + Array((Self.line(2) + "\n").utf8), bom)
    try write([0x50, 0x4B, 0x03, 0x04, 0x14, 0x00], zip)
    for readsOnItsOwnThread in [false, true] {
      let replayer = Replayer(pipeline: Pipeline())
      replayer.readsOnItsOwnThread = readsOnItsOwnThread
      let sink = InMemoryEventSink()
      for path in [empty, newline, blankFirst, bom, zip] { replayer.replay(path: path, to: sink) }
      #expect(replayer.summary.recordedEvents == 2)
      #expect(replayer.summary.malformedLines == 0, "\(replayer.summary.firstSkipped)")
      #expect(
        replayer.summary.fileErrors == [
          "\(zip): neither a capture (pcap or pcapng) nor a recording (JSON lines): it starts with 50 4b 03 04"
        ])
      #expect(replayer.summary.unreadableFiles == 1)
    }
  }
}

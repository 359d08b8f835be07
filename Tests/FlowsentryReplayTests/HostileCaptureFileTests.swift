import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryTestSupport
import Foundation
import Testing

@testable import FlowsentryReplay

/// A pcapng file built block by block, interfaces with any options: for times the file chooses.
struct PcapngBuilder {
  var bytes = Data()

  init() {
    // Section header: byte-order magic, version 1.0, section length unknown.
    block(0x0a0d_0d0a, Self.le32(0x1a2b_3c4d) + [1, 0, 0, 0] + [UInt8](repeating: 0xff, count: 8))
  }

  static func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
  static func le64(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

  mutating func block(_ type: UInt32, _ body: [UInt8]) {
    let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
    bytes.append(contentsOf: Self.le32(type) + Self.le32(UInt32(12 + padded.count)))
    bytes.append(contentsOf: padded + Self.le32(UInt32(12 + padded.count)))
  }

  /// An Ethernet interface; `resolution` is if_tsresol's byte, `offsetSeconds` if_tsoffset.
  mutating func interface(resolution: UInt8? = nil, offsetSeconds: Int64? = nil) {
    var options: [UInt8] = []
    if let resolution { options += [9, 0, 1, 0, resolution, 0, 0, 0] }
    if let offsetSeconds { options += [14, 0, 8, 0] + Self.le64(UInt64(bitPattern: offsetSeconds)) }
    if !options.isEmpty { options += [0, 0, 0, 0] }
    block(0x0000_0001, [1, 0, 0, 0] + Self.le32(65_535) + options)
  }

  mutating func packet(interface: UInt32, _ frame: [UInt8], units: UInt64) {
    block(
      0x0000_0006,
      Self.le32(interface) + Self.le32(UInt32(units >> 32)) + Self.le32(UInt32(units & 0xffff_ffff))
        + Self.le32(UInt32(frame.count)) + Self.le32(UInt32(frame.count)) + frame)
  }

  func write(named name: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-\(name)-\(getpid()).pcapng").path
    try bytes.write(to: URL(fileURLWithPath: path))
    return path
  }
}

/// Numbers a capture file or a recording chooses saturate or are refused with a position; none traps.
@Suite struct HostileCaptureFileTests {
  let client = IPAddress("10.0.0.2")!
  let web = IPAddress("203.0.113.80")!

  func handshakeFrames() -> [[UInt8]] {
    let syn = Frames.ipv4(client, web, protocolNumber: 6, Frames.tcp(40_002, 443, flags: [.syn], sequence: 10))
    let synAck = Frames.ipv4(
      web, client, protocolNumber: 6, Frames.tcp(443, 40_002, flags: [.syn, .ack], sequence: 70, ack: 11))
    let fin = Frames.ipv4(
      client, web, protocolNumber: 6, Frames.tcp(40_002, 443, flags: [.fin, .ack], sequence: 11, ack: 71))
    return [syn, synAck, fin].map { Frames.ethernet($0) }
  }

  func replay(_ path: String) -> (Replayer, [FlowEvent]) {
    let replayer = Replayer(pipeline: Pipeline(configuration: Pipeline.Configuration().validatingSegments))
    let sink = InMemoryEventSink()
    replayer.replay(path: path, to: sink)
    let flows = sink.events.compactMap { event -> FlowEvent? in
      if case .flow(let flow) = event { return flow }
      return nil
    }
    return (replayer, flows)
  }

  @Test func hugeResolutionAndOffsetOptionsSaturate() throws {
    var file = PcapngBuilder()
    // Seconds (resolution 10^0) offset by 2^62 seconds: far past what nanoseconds can hold.
    file.interface(resolution: 0, offsetSeconds: 1 << 62)
    // Nanoseconds, with a timestamp of 2^63 units.
    file.interface(resolution: 9)
    let frames = handshakeFrames()
    file.packet(interface: 0, frames[0], units: 1)
    file.packet(interface: 1, frames[1], units: 1 << 63)
    file.packet(interface: 0, frames[2], units: 2)
    let path = try file.write(named: "huge-times")
    defer { try? FileManager.default.removeItem(atPath: path) }

    let (replayer, flows) = replay(path)
    #expect(replayer.summary.fileErrors.isEmpty, "\(replayer.summary.fileErrors)")
    #expect(replayer.summary.packets == 3 && replayer.summary.clampedTimestamps == 3)
    #expect(replayer.summary.firstSkipped.contains { $0.contains("3 times outside 1970-2116 clamped") })
    #expect(flows.map(\.name) == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(flows.allSatisfy { $0.timestamp == CaptureFile.timestampRange.upperBound })
    #expect(flows.last?.durationNanoseconds == 0)
  }

  @Test func timesFarApartGiveASaturatedNotATrappedDuration() throws {
    var file = PcapngBuilder()
    // A SYN at about -9e18 ns and a FIN at about +9e18 ns, each through its interface's offset.
    file.interface(resolution: 9, offsetSeconds: -9_000_000_000)
    file.interface(resolution: 9, offsetSeconds: 9_000_000_000)
    let frames = handshakeFrames()
    file.packet(interface: 0, frames[0], units: 0)
    file.packet(interface: 0, frames[1], units: 1_000)
    file.packet(interface: 1, frames[2], units: 0)
    let path = try file.write(named: "far-apart")
    defer { try? FileManager.default.removeItem(atPath: path) }

    let (replayer, flows) = replay(path)
    #expect(replayer.summary.fileErrors.isEmpty, "\(replayer.summary.fileErrors)")
    #expect(replayer.summary.clampedTimestamps == 3)
    #expect(flows.map(\.name) == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(flows.last?.durationNanoseconds == CaptureFile.timestampRange.upperBound)
  }

  @Test(arguments: [
    (Int64.max, Int64(0), Int64(1 << 62), true), (Int64.min, 0, 0, true), (9_223_372_036, 999_999_999, 1 << 62, true),
    (-1, 0, 0, true), (1_700_000_000, 5, 1_700_000_000_000_000_005, false), (0, Int64.max, 1 << 62, true),
    (4_611_686_018, 427_387_904, 1 << 62, false),
  ])
  func recordTimesSaturate(seconds: Int64, fraction: Int64, expected: Int64, clamped: Bool) {
    let (nanoseconds, wasClamped) = CaptureFile.nanoseconds(seconds: seconds, fraction: fraction)
    #expect(nanoseconds == expected && wasClamped == clamped)
  }

  func flowLine(timestamp: String, extra: String = "") -> String {
    #"{"schema_version":\#(EventJSON.schemaVersion),"event":"net_flow_tcp_begin","timestamp_ns":\#(timestamp),"#
      + #""args":{"src":"10.0.0.2","src_port":1,"dst":"10.0.0.3","dst_port":2,"conn_direction":"outgoing"\#(extra)}}"#
  }

  @Test(arguments: [
    "-9223372036854775808", "-1", "1e30", "4611686018427387905", "9223372036854775807", "18446744073709551615",
    "1.5", "true", "\"5\"", "99999999999999999999999",
  ])
  func recordingTimesOutOfRangeAreMalformedWithTheirColumn(timestamp: String) {
    let line = flowLine(timestamp: timestamp)
    guard case .malformed(let reason, let column) = EventJSONReader.read(line) else {
      Issue.record("timestamp_ns \(timestamp) was accepted")
      return
    }
    #expect(reason.contains("timestamp_ns"), "\(reason)")
    #expect(column == Array(line.utf8).firstIndex(of: UInt8(ascii: ":"), after: "timestamp_ns") + 1)
  }

  @Test func recordingTimesAtTheEndsOfTheRangeRead() {
    for timestamp in ["0", "4611686018427387904"] {
      guard case .event = EventJSONReader.read(flowLine(timestamp: timestamp)) else {
        Issue.record("timestamp_ns \(timestamp) was refused")
        continue
      }
    }
  }

  @Test(arguments: [
    ",\"src_port\":70000", ",\"dst_port\":-1", ",\"src_port\":1.5",
  ])
  func otherNumbersOutOfRangeAreMalformed(extra: String) {
    // A later duplicate key wins in JSONSerialization, so `extra` replaces a valid value.
    let line = flowLine(timestamp: "5", extra: extra)
    guard case .malformed = EventJSONReader.read(line) else {
      Issue.record("\(extra) was accepted")
      return
    }
  }

  @Test func aRecordingWithHostileTimesReplaysAndSaysWhere() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-hostile-rec-\(getpid()).jsonl").path
    let lines = [flowLine(timestamp: "5"), flowLine(timestamp: "-9223372036854775808"), flowLine(timestamp: "1e30")]
    try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let (replayer, _) = replay(path)
    #expect(replayer.summary.recordedEvents == 1 && replayer.summary.malformedLines == 2)
    let column = Array(lines[1].utf8).firstIndex(of: UInt8(ascii: ":"), after: "timestamp_ns") + 1
    #expect(replayer.summary.firstSkipped.first?.hasPrefix("\(path):2:\(column): ") == true, "\(replayer.summary)")
  }
}

extension HostileCaptureFileTests {
  @Test func aLineLongerThanTheReadLimitIsSkippedAndCounted() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-long-line-\(getpid()).jsonl").path
    let long = "{\"x\":\"" + String(repeating: "a", count: Replayer.maximumRecordingLineBytes * 2) + "\"}"
    // The last line has no newline: it is read too.
    let text = [flowLine(timestamp: "5"), long, flowLine(timestamp: "6")].joined(separator: "\n")
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let (replayer, _) = replay(path)
    #expect(replayer.summary.recordedEvents == 2 && replayer.summary.malformedLines == 1)
    #expect(replayer.summary.bytes == Int64(text.utf8.count))
    #expect(
      replayer.summary.firstSkipped == [
        "\(path):2:1: malformed lines first here (a line over the 1048576 bytes read)"
      ])
  }
}

extension Array where Element == UInt8 {
  /// The index just past `"key":`, where the key's value starts.
  fileprivate func firstIndex(of colon: UInt8, after key: String) -> Int {
    let quoted = Array("\"\(key)\"".utf8)
    for start in 0...(count - quoted.count) where self[start..<start + quoted.count].elementsEqual(quoted) {
      return start + quoted.count + 1
    }
    return -1
  }
}

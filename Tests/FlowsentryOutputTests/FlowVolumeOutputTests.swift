import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryOutput

/// An end's volume in every format: the event JSON's args (read back exactly), ECS's and CEF's
/// per-endpoint bytes mapped by which side terminated.
@Suite struct FlowVolumeOutputTests {
  let context = EventJSON.Context(hostName: "sensor-1")
  let local = Endpoint(IPAddress("10.0.0.2")!, 40_000)
  let remote = Endpoint(IPAddress("203.0.113.7")!, 443)
  let volume = FlowVolume(
    bytesSent: 5_000_000_000, bytesReceived: 1234, packetsSent: 3_500_000, packetsReceived: 7, retransmits: 12,
    rttMicroseconds: 321)

  func end(by side: Side, volume: FlowVolume?) -> FlowEvent {
    FlowEvent(
      name: .netFlowTCPEnd, timestamp: 1_700_000_000_000_000_000, direction: .outgoing,
      source: side == .local ? local : remote, destination: side == .local ? remote : local, closeReason: .fin,
      terminatedBy: side, durationNanoseconds: 5, volume: volume)
  }

  func args(_ line: String) throws -> [String: Any] {
    let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    return try #require(object["args"] as? [String: Any])
  }

  @Test func anEndPrintsTheSixCountersAndReadsThemBack() throws {
    let line = EventJSON.line(for: end(by: .remote, volume: volume), context: context)
    #expect(
      line.contains(
        #""duration_ns":5,"bytes_sent":5000000000,"bytes_received":1234,"packets_sent":3500000,"packets_received":7,"retransmits":12,"rtt_us":321}"#
      ))
    guard case .event(.flow(let read)) = EventJSONReader.read(line) else {
      Issue.record("not read back: \(line)")
      return
    }
    #expect(read.volume == volume)
  }

  @Test func withoutVolumeTheKeysAreAbsentAndBeginsAreUnchanged() throws {
    let line = EventJSON.line(for: end(by: .local, volume: nil), context: context)
    #expect(try args(line)["bytes_sent"] == nil)
    #expect(line.hasSuffix(#""duration_ns":5}}"#))
    guard case .event(.flow(let read)) = EventJSONReader.read(line) else {
      Issue.record("not read back")
      return
    }
    #expect(read.volume == nil)
  }

  @Test(arguments: [
    (#""bytes_sent":-1"#, "bytes_sent"), (#""bytes_sent":18446744073709551616"#, "bytes_sent"),
    (#""bytes_sent":1.5"#, "bytes_sent"), (#""bytes_sent":"1""#, "bytes_sent"),
  ])
  func outOfRangeCountersArePositionedErrors(replacement: String, key: String) throws {
    let line = EventJSON.line(for: end(by: .local, volume: volume), context: context)
      .replacingOccurrences(of: #""bytes_sent":5000000000"#, with: replacement)
    guard case .malformed(let reason, let column) = EventJSONReader.read(line) else {
      Issue.record("accepted: \(line)")
      return
    }
    #expect(reason.contains(key))
    // The column of the value, just after `"key":`.
    let value = try #require(line.range(of: "\"\(key)\":")).upperBound
    #expect(column == line.utf8.distance(from: line.startIndex, to: value) + 1)
  }

  @Test func aPartialVolumeIsRefused() throws {
    let line = EventJSON.line(for: end(by: .local, volume: volume), context: context)
      .replacingOccurrences(of: #","rtt_us":321"#, with: "")
    guard case .malformed(let reason, _) = EventJSONReader.read(line) else {
      Issue.record("accepted: \(line)")
      return
    }
    #expect(reason.contains("rtt_us"))
  }

  func ecs(_ event: FlowEvent) throws -> [String: Any] {
    var bytes: [UInt8] = []
    ECSJSON.append(.flow(event), context: context, to: &bytes)
    return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
  }

  @Test func ecsPutsEachSidesBytesOnTheEndpointThatSentThem() throws {
    // The local socket terminated: it is `source`, and sent bytes_sent.
    let byLocal = try ecs(end(by: .local, volume: volume))
    #expect((byLocal["source"] as? [String: Any])?["bytes"] as? UInt64 == 5_000_000_000)
    #expect((byLocal["source"] as? [String: Any])?["packets"] as? Int == 3_500_000)
    #expect((byLocal["destination"] as? [String: Any])?["bytes"] as? Int == 1234)
    #expect((byLocal["network"] as? [String: Any])?["bytes"] as? UInt64 == 5_000_001_234)
    #expect((byLocal["network"] as? [String: Any])?["packets"] as? Int == 3_500_007)
    // The peer terminated: it is `source`, and sent what the local socket received.
    let byRemote = try ecs(end(by: .remote, volume: volume))
    #expect((byRemote["source"] as? [String: Any])?["bytes"] as? Int == 1234)
    #expect((byRemote["destination"] as? [String: Any])?["bytes"] as? UInt64 == 5_000_000_000)
    let without = try ecs(end(by: .remote, volume: nil))
    #expect((without["source"] as? [String: Any])?["bytes"] == nil)
    #expect((without["network"] as? [String: Any])?["bytes"] == nil)
  }

  @Test func cefOutIsWhatTheSourceSent() {
    let byRemote = CEFMessage.line(for: .flow(end(by: .remote, volume: volume)), context: context)
    #expect(byRemote.contains(" out=1234 in=5000000000"))
    let byLocal = CEFMessage.line(for: .flow(end(by: .local, volume: volume)), context: context)
    #expect(byLocal.contains(" out=5000000000 in=1234"))
    #expect(!CEFMessage.line(for: .flow(end(by: .local, volume: nil)), context: context).contains(" out="))
  }
}

import FlowsentryCore
import Testing

@testable import FlowsentryFlows

/// From a capture, an end's volume is counted from the segments with the kernel's definitions.
@Suite struct CaptureVolumeTests {
  let validation = SegmentValidationTests()

  @Test func payloadRetransmissionsAndDataSegmentsPerDirection() throws {
    let v = validation
    var tracker = v.validatingTracker()
    let events = v.run(
      &tracker,
      [
        v.segment([.syn], sent: true, sequence: 100, at: 0),
        v.segment([.syn, .ack], sent: false, sequence: 900, ack: 101, at: 1),
        v.segment([.ack], sent: true, sequence: 101, ack: 901, at: 2),  // no payload: no segment
        v.segment([.ack, .psh], sent: true, sequence: 101, ack: 901, payload: 1000, at: 3),
        v.segment([.ack, .psh], sent: true, sequence: 101, ack: 901, payload: 1000, at: 4),  // repeated whole
        v.segment([.ack, .psh], sent: true, sequence: 601, ack: 901, payload: 1000, at: 5),  // half repeated
        v.segment([.ack, .psh], sent: false, sequence: 901, ack: 1601, payload: 300, at: 6),
        v.segment([.ack, .psh], sent: false, sequence: 901, ack: 1601, payload: 300, at: 7),  // the peer's
        v.segment([.fin, .ack], sent: false, sequence: 1201, ack: 1601, payload: 20, at: 8),
      ])
    let end = try #require(events.last)
    #expect(end.name == .netFlowTCPEnd)
    #expect(
      end.volume
        == FlowVolume(bytesSent: 1500, bytesReceived: 320, packetsSent: 3, packetsReceived: 3, retransmits: 2))
    #expect(events.first?.volume == nil, "a begin carries no volume")
  }

  @Test func aSequenceWrappingTransferCountsEveryByteOnce() throws {
    let v = validation
    var tracker = v.validatingTracker()
    let start = UInt32.max - 999
    var packets = [
      v.segment([.syn], sent: false, sequence: start - 1, at: 0),
      v.segment([.syn, .ack], sent: true, sequence: 5, ack: start, at: 1),
    ]
    for index in 0..<4 {
      packets.append(
        v.segment(
          [.ack], sent: false, sequence: start &+ UInt32(index * 800), ack: 6, payload: 800, at: 2 + Int64(index)))
    }
    packets.append(v.segment([.fin, .ack], sent: false, sequence: start &+ 3200, ack: 6, at: 9))
    let events = v.run(&tracker, packets)
    let volume = try #require(events.last?.volume)
    #expect(volume.bytesReceived == 3200 && volume.packetsReceived == 4 && volume.retransmits == 0)
    #expect(events.last?.direction == .incoming)
  }

  @Test func bytesTheCaptureMissedStillCountAsTheSequenceAdvanced() throws {
    let v = validation
    var tracker = v.validatingTracker()
    let events = v.run(
      &tracker,
      [
        v.segment([.syn], sent: true, sequence: 100, at: 0),
        v.segment([.syn, .ack], sent: false, sequence: 900, ack: 101, at: 1),
        v.segment([.ack], sent: true, sequence: 101, ack: 901, payload: 1000, at: 2),
        // 101 + 1000 ..< 101 + 3000 was sent but not captured.
        v.segment([.ack], sent: true, sequence: 3101, ack: 901, payload: 1000, at: 3),
        v.segment([.fin, .ack], sent: true, sequence: 4101, ack: 901, at: 4),
      ])
    let volume = try #require(events.last?.volume)
    #expect(volume.bytesSent == 4000 && volume.packetsSent == 2 && volume.retransmits == 0)
  }

  @Test func liveEndsFromPacketsCarryNoVolume() {
    let v = validation
    var tracker = FlowTracker()
    let events = v.run(
      &tracker,
      [
        v.segment([.syn, .ack], sent: false, sequence: 900, ack: 101, at: 1),
        v.segment([.ack], sent: true, sequence: 101, ack: 901, payload: 1000, at: 2),
        v.segment([.fin, .ack], sent: true, sequence: 1101, ack: 901, at: 3),
      ])
    #expect(events.map(\.name) == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(events.allSatisfy { $0.volume == nil })
  }

  @Test func aSocketEndCarriesTheKernelsTotals() {
    var tracker = FlowTracker()
    let local = Endpoint(IPAddress("10.0.0.2")!, 40_000)
    let remote = Endpoint(IPAddress("203.0.113.7")!, 443)
    let totals = FlowVolume(
      bytesSent: 10, bytesReceived: 20, packetsSent: 1, packetsReceived: 2, retransmits: 0, rttMicroseconds: 42)
    var events: [FlowEvent] = []
    tracker.observe(
      SocketStateChange(timestamp: 1, transition: .established, direction: .outgoing, local: local, remote: remote),
      into: &events)
    tracker.observe(
      SocketStateChange(
        timestamp: 2, transition: .ended(.fin, by: .remote), direction: .outgoing, local: local, remote: remote,
        volume: totals), into: &events)
    #expect(events.map(\.volume) == [nil, totals])
  }
}

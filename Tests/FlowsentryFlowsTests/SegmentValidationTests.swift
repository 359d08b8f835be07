import FlowsentryCore
import Testing

@testable import FlowsentryFlows

/// Without a socket (capture files), the tracker checks handshakes and terminations itself.
@Suite struct SegmentValidationTests {
  let local = Endpoint(IPAddress("10.0.0.2")!, 40_000)
  let remote = Endpoint(IPAddress("203.0.113.7")!, 443)

  func segment(
    _ flags: TCPFlags, sent: Bool, sequence: UInt32, ack: UInt32 = 0, payload: UInt32 = 0, at milliseconds: Int64
  ) -> TCPPacketObservation {
    TCPPacketObservation(
      timestamp: milliseconds * 1_000_000, hook: sent ? .egress : .ingress, source: sent ? local : remote,
      destination: sent ? remote : local, flags: flags, sequence: sequence, acknowledgment: ack,
      payloadLength: payload)
  }

  func validatingTracker() -> FlowTracker {
    var configuration = FlowTracker.Configuration()
    configuration.validatesSegments = true
    return FlowTracker(configuration: configuration)
  }

  func run(_ tracker: inout FlowTracker, _ packets: [TCPPacketObservation]) -> [FlowEvent] {
    var events: [FlowEvent] = []
    for packet in packets { tracker.observe(packet, into: &events) }
    return events
  }

  @Test func aFINFarBeyondTheHandshakeEndsTheFlowBecauseTheDataBeforeItWasFollowed() {
    // 3 MiB in 1 MiB segments: the FIN lies 3 MiB past the handshake, beyond the tolerance from
    // the initial sequence, so only following the data makes it count.
    var handshake = [
      segment([.syn], sent: true, sequence: 100, at: 0),
      segment([.syn, .ack], sent: false, sequence: 900, ack: 101, at: 1),
    ]
    for chunk in 0..<3 {
      handshake.append(
        segment(
          [.ack], sent: true, sequence: 101 &+ UInt32(chunk) << 20, ack: 901, payload: 1 << 20, at: 2 + Int64(chunk)))
    }
    var tracker = validatingTracker()
    let fin = segment([.fin, .ack], sent: true, sequence: 101 &+ 3 << 20, ack: 901, at: 10)
    let events = run(&tracker, handshake + [fin])
    #expect(events.map(\.name) == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(tracker.counters.outOfWindowTerminations == 0)

    // Control: the same FIN without the data is refused as out of window, and the flow stays open.
    var blind = validatingTracker()
    let refused = run(&blind, Array(handshake.prefix(2)) + [fin])
    #expect(refused.map(\.name) == [.netFlowTCPBegin])
    #expect(blind.counters.outOfWindowTerminations == 1 && blind.counters.openFlows == 1)
  }

  @Test func aOneWayCaptureWithoutSYNsStillBegins() {
    var tracker = validatingTracker()
    let events = run(
      &tracker,
      [
        segment([.syn, .ack], sent: false, sequence: 900, ack: 101, at: 0),
        segment([.fin, .ack], sent: false, sequence: 901, ack: 101, at: 5),
      ])
    #expect(events.map(\.name) == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(tracker.counters.synAcksWithoutSYN == 0)
  }

  @Test func aSYNACKThatAnswersNoSYNBeginsNothingOnceSYNsAreSeen() {
    var tracker = validatingTracker()
    let other = Endpoint(local.address, 40_001)
    let events = run(
      &tracker,
      [
        segment([.syn], sent: true, sequence: 100, at: 0),
        // For another port, and for this one with the wrong acknowledgment: neither answers the SYN.
        TCPPacketObservation(
          timestamp: 1, hook: .ingress, source: remote, destination: other, flags: [.syn, .ack], sequence: 5,
          acknowledgment: 77),
        segment([.syn, .ack], sent: false, sequence: 900, ack: 555, at: 2),
        segment([.syn, .ack], sent: false, sequence: 900, ack: 101, at: 3),
      ])
    #expect(events.map(\.name) == [.netFlowTCPBegin])
    #expect(tracker.counters.synAcksWithoutSYN == 2)
  }
}

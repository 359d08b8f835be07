import FlowsentryCore
import Testing

@testable import FlowsentryFlows

/// Every transition of the flow state machine, from the local socket's point of view.
@Suite struct FlowTrackerTests {
  let local = Endpoint(IPAddress("127.0.0.1")!, 40_000)
  let remote = Endpoint(IPAddress("198.51.100.7")!, 443)
  let synAck: TCPFlags = [.syn, .ack]
  let finAck: TCPFlags = [.fin, .ack]
  let rstAck: TCPFlags = [.rst, .ack]

  /// A packet leaving the local socket (egress) or arriving at it (ingress), at time `at` ms.
  func sent(_ flags: TCPFlags, at milliseconds: Int64, sequence: UInt32 = 1000, state: UInt8? = nil)
    -> TCPPacketObservation
  {
    TCPPacketObservation(
      timestamp: milliseconds * 1_000_000, hook: .egress, source: local, destination: remote, flags: flags,
      sequence: sequence, socketState: state)
  }

  func received(_ flags: TCPFlags, at milliseconds: Int64, sequence: UInt32 = 1000, state: UInt8? = nil)
    -> TCPPacketObservation
  {
    TCPPacketObservation(
      timestamp: milliseconds * 1_000_000, hook: .ingress, source: remote, destination: local, flags: flags,
      sequence: sequence, socketState: state)
  }

  func run(_ tracker: inout FlowTracker, _ packets: [TCPPacketObservation]) -> [FlowEvent] {
    var events: [FlowEvent] = []
    for packet in packets { tracker.observe(packet, into: &events) }
    return events
  }

  func run(_ packets: [TCPPacketObservation], listening: Bool = false) -> (
    events: [FlowEvent], counters: FlowTracker.Counters
  ) {
    var tracker = FlowTracker()
    let packets = packets.map { packet in
      var packet = packet
      packet.localListening = listening
      return packet
    }
    let events = run(&tracker, packets)
    return (events, tracker.counters)
  }

  @Test func outgoingHandshakeThenLocalFin() throws {
    let (events, counters) = run([received(synAck, at: 10), sent(finAck, at: 25)])
    try #require(events.count == 2)
    #expect(events[0].name == .netFlowTCPBegin)
    #expect(events[0].direction == .outgoing)
    #expect(events[0].source == local && events[0].destination == remote)
    #expect(events[1].name == .netFlowTCPEnd)
    #expect(events[1].direction == .outgoing)
    #expect(events[1].closeReason == .fin && events[1].terminatedBy == .local)
    #expect(events[1].source == local && events[1].destination == remote)
    #expect(events[1].durationNanoseconds == 15_000_000)
    #expect(counters.beginEvents == 1 && counters.endEvents == 1 && counters.openFlows == 0)
  }

  @Test func incomingHandshakeThenRemoteFin() throws {
    let (events, _) = run([sent(synAck, at: 1), received(finAck, at: 2)])
    try #require(events.count == 2)
    #expect(events[0].direction == .incoming)
    #expect(events[0].source == remote && events[0].destination == local)
    #expect(events[1].direction == .incoming)
    #expect(events[1].source == remote && events[1].terminatedBy == .remote)
    #expect(events[1].local == local && events[1].remote == remote)
  }

  @Test func retransmittedSynAckMakesNoSecondBegin() {
    let (events, counters) = run([received(synAck, at: 1), received(synAck, at: 1001), received(synAck, at: 3001)])
    #expect(events.map(\.name) == [.netFlowTCPBegin])
    #expect(counters.repeatedHandshakes == 2)
  }

  @Test func retransmittedFinMakesNoSecondEnd() {
    let (events, counters) = run([received(synAck, at: 1), sent(finAck, at: 2), sent(finAck, at: 300)])
    #expect(events.map(\.name) == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(counters.repeatedTerminations == 1)
  }

  @Test func halfCloseReportsTheFirstFinOnly() throws {
    // The peer stops sending, the local side keeps sending for a while, then closes too.
    let (events, _) = run([
      received(synAck, at: 1), received(finAck, at: 2), sent([.ack, .psh], at: 3), sent(finAck, at: 50),
    ])
    try #require(events.count == 2)
    #expect(events[1].terminatedBy == .remote && events[1].durationNanoseconds == 1_000_000)
  }

  @Test func bothSidesFinReportsOneEnd() {
    let (events, counters) = run([sent(synAck, at: 1), sent(finAck, at: 5), received(finAck, at: 5)])
    #expect(events.filter { $0.name == .netFlowTCPEnd }.count == 1)
    #expect(events.last?.terminatedBy == .local)
    #expect(counters.repeatedTerminations == 1)
  }

  @Test func rstAfterFinIsAbsorbed() {
    let (events, _) = run([received(synAck, at: 1), received(finAck, at: 2), sent(rstAck, at: 3)])
    #expect(events.count == 2)
    #expect(events.last?.closeReason == .fin)
  }

  @Test func abortWithRst() throws {
    let (events, _) = run([received(synAck, at: 1), sent(rstAck, at: 4, sequence: 777)])
    try #require(events.count == 2)
    #expect(events[1].closeReason == .rst && events[1].terminatedBy == .local && events[1].source == local)
  }

  @Test func rstWinsOverFinInOnePacket() {
    let (events, _) = run([received(synAck, at: 1), received([.rst, .fin, .ack], at: 2)])
    #expect(events.last?.closeReason == .rst)
  }

  @Test func outgoingAttemptRefusedBySocketState() throws {
    // Our SYN_SENT socket receives the peer's RST.
    let (events, counters) = run([received(rstAck, at: 1, sequence: 0, state: 2)])
    try #require(events.count == 1)
    #expect(events[0].name == .netFlowTCPEnd && events[0].closeReason == .refused)
    #expect(events[0].direction == .outgoing && events[0].terminatedBy == .remote)
    #expect(events[0].source == remote && events[0].destination == local)
    #expect(events[0].durationNanoseconds == nil)
    #expect(counters.beginEvents == 0 && counters.endsWithoutBegin == 1)
  }

  @Test func incomingAttemptRefusedByTheKernel() throws {
    // The kernel's RST to a SYN for a closed port: no socket state, sequence 0 with ACK (RFC 9293).
    let (events, _) = run([sent(rstAck, at: 1, sequence: 0), sent(rstAck, at: 1001, sequence: 0)])
    try #require(events.count == 1)
    #expect(events[0].closeReason == .refused && events[0].direction == .incoming && events[0].terminatedBy == .local)
  }

  @Test func rstOnAFlowOlderThanTheMonitorIsAnAbortNotARefusal() throws {
    let (events, counters) = run([received(rstAck, at: 1, sequence: 123_456, state: 1)])
    try #require(events.count == 1)
    #expect(events[0].closeReason == .rst)
    #expect(counters.endsWithoutBegin == 1)
  }

  @Test func flowsOlderThanTheMonitorAreOrientedByListeningSockets() {
    #expect(run([received(finAck, at: 1)], listening: true).events.first?.direction == .incoming)
    #expect(run([received(finAck, at: 1)], listening: false).events.first?.direction == .outgoing)
    #expect(run([sent(finAck, at: 1)], listening: false).events.first?.durationNanoseconds == nil)
  }

  @Test func simultaneousOpenMakesOneBegin() {
    let (events, counters) = run([sent(synAck, at: 1), received(synAck, at: 1), sent(finAck, at: 9)])
    #expect(events.map(\.name) == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(counters.repeatedHandshakes == 1)
  }

  @Test func portReuseAfterAnEndStartsANewFlow() {
    let (events, _) = run([
      received(synAck, at: 1), sent(finAck, at: 2), received(synAck, at: 90_000), sent(rstAck, at: 90_001),
    ])
    #expect(events.map(\.name) == [.netFlowTCPBegin, .netFlowTCPEnd, .netFlowTCPBegin, .netFlowTCPEnd])
    #expect(events.last?.closeReason == .rst)
  }

  @Test func bothEndsOfALoopbackConnectionAreTwoFlows() {
    let client = Endpoint(IPAddress("127.0.0.1")!, 50_000)
    let server = Endpoint(IPAddress("127.0.0.1")!, 8080)
    func packet(_ hook: Hook, from: Endpoint, to: Endpoint, _ flags: TCPFlags) -> TCPPacketObservation {
      TCPPacketObservation(timestamp: 1, hook: hook, source: from, destination: to, flags: flags)
    }
    var tracker = FlowTracker()
    let events = run(
      &tracker,
      [
        packet(.egress, from: server, to: client, synAck), packet(.ingress, from: server, to: client, synAck),
        packet(.egress, from: client, to: server, finAck), packet(.ingress, from: client, to: server, finAck),
        packet(.egress, from: server, to: client, finAck), packet(.ingress, from: server, to: client, finAck),
      ])
    #expect(events.count == 4)
    #expect(Set(events.filter { $0.name == .netFlowTCPBegin }.map(\.direction)) == [.incoming, .outgoing])
    for begin in events where begin.name == .netFlowTCPBegin {
      #expect(begin.source == client && begin.destination == server)
    }
    for end in events where end.name == .netFlowTCPEnd {
      #expect(end.source == client && end.closeReason == .fin)
    }
  }

  @Test func evictionIsBoundedAndCounted() throws {
    var tracker = FlowTracker(configuration: .init(maximumOpenFlows: 2, maximumEndedFlows: 2))
    var events: [FlowEvent] = []
    for port: UInt16 in 1...3 {
      tracker.observe(
        TCPPacketObservation(
          timestamp: Int64(port), hook: .ingress, source: Endpoint(remote.address, port), destination: local,
          flags: synAck), into: &events)
    }
    #expect(tracker.counters.evictedOpenFlows == 1)
    #expect(tracker.counters.openFlows == 2)
    // The evicted flow (port 1) still gets its end, without a duration.
    tracker.observe(
      TCPPacketObservation(
        timestamp: 10, hook: .egress, source: local, destination: Endpoint(remote.address, 1), flags: finAck),
      into: &events)
    let end = try #require(events.last)
    #expect(end.name == .netFlowTCPEnd && end.durationNanoseconds == nil)
    #expect(tracker.counters.endsWithoutBegin == 1)
  }

  @Test func endedFlowsAreForgottenAfterTheirMemoryPeriod() {
    var tracker = FlowTracker(configuration: .init(endedFlowMemoryNanoseconds: 1_000_000_000))
    // A late retransmission within the memory period is absorbed; after it, the tuple is free.
    let events = run(
      &tracker, [received(synAck, at: 0), sent(finAck, at: 1), sent(finAck, at: 900), sent(finAck, at: 5000)])
    #expect(events.map(\.name) == [.netFlowTCPBegin, .netFlowTCPEnd, .netFlowTCPEnd])
    #expect(tracker.counters.repeatedTerminations == 1)
  }

  @Test func packetsWithoutStateChangesAreIgnored() {
    let (events, counters) = run([sent([.syn], at: 1), received([.ack], at: 2), received([.ack, .psh], at: 3)])
    #expect(events.isEmpty)
    #expect(counters.observations == 3 && counters.openFlows == 0)
  }

  @Test func processIdentityComesFromTheEndPacketOrTheBegin() {
    var begin = received(synAck, at: 1)
    begin.process = ProcessIdentity(pid: 7, uid: 0, command: "curl")
    let (events, _) = run([begin, sent(finAck, at: 2)])
    #expect(events.map(\.process?.command) == ["curl", "curl"])
  }
}

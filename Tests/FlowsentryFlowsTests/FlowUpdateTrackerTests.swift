import FlowsentryCore
import Testing

@testable import FlowsentryFlows

/// What the flow tracker makes of socket walks: updates past the interval with deltas since the last
/// report, begins for connections older than the monitor, and ends whose deltas continue from them.
@Suite struct FlowUpdateTrackerTests {
  static let second: Int64 = 1_000_000_000
  let local = Endpoint(.v4(0xC633_6402), 40_000)
  let remote = Endpoint(.v4(0xC633_6401), 443)
  let process = ProcessIdentity(pid: 7, uid: 0, command: "uploader")

  func tracker(interval seconds: Int64 = 10) -> FlowTracker {
    var configuration = FlowTracker.Configuration()
    configuration.updateIntervalNanoseconds = seconds * Self.second
    return FlowTracker(configuration: configuration)
  }

  func change(_ transition: SocketStateChange.Transition, at seconds: Int64, _ volume: FlowVolume? = nil)
    -> SocketStateChange
  {
    SocketStateChange(
      timestamp: seconds * Self.second, transition: transition, direction: .outgoing, local: local, remote: remote,
      cgroupID: 5, socketCookie: 99, process: transition == .established ? process : nil, volume: volume)
  }

  func sent(_ bytes: UInt64, packets: UInt64 = 1, retransmits: UInt64 = 0) -> FlowVolume {
    FlowVolume(
      bytesSent: bytes, bytesReceived: bytes / 10, packetsSent: packets, packetsReceived: 1, retransmits: retransmits,
      rttMicroseconds: 250)
  }

  func feed(_ tracker: inout FlowTracker, _ changes: [SocketStateChange]) -> [FlowEvent] {
    var events: [FlowEvent] = []
    for change in changes { tracker.observe(change, into: &events) }
    return events
  }

  @Test func updatesComeOncePerIntervalAndTheirDeltasAddUpWithTheEnd() throws {
    var tracker = tracker()
    let events = feed(
      &tracker,
      [
        change(.established, at: 1000),
        change(.open(preexisting: false), at: 1005, sent(1_000)),  // younger than the interval: nothing
        // (a begin at 1000 s, not at 0: its report time is the begin's, never the clock's zero)
        change(.open(preexisting: false), at: 1010, sent(4_000, packets: 3)),
        change(.open(preexisting: false), at: 1015, sent(5_000, packets: 4)),  // 5 s after the last report
        change(.open(preexisting: false), at: 1020, sent(9_000, packets: 7)),
        change(.ended(.fin, by: .local), at: 1021, sent(9_500, packets: 8)),
      ])
    #expect(events.map(\.name) == [.netFlowTCPBegin, .netFlowTCPUpdate, .netFlowTCPUpdate, .netFlowTCPEnd])
    let (first, second, end) = (events[1], events[2], events[3])
    #expect(first.volume == sent(4_000, packets: 3))
    #expect(first.volumeDelta?.bytesSent == 4_000)
    #expect(first.durationNanoseconds == 10 * Self.second)
    #expect(first.process == process, "from the begin")
    #expect(first.source == local && first.destination == remote && first.local == local)
    #expect(
      second.volumeDelta
        == FlowVolume(bytesSent: 5_000, bytesReceived: 500, packetsSent: 4, packetsReceived: 0, rttMicroseconds: 250))
    #expect(end.volumeDelta?.bytesSent == 500)
    #expect(events.dropFirst().reduce(0) { $0 + ($1.volumeDelta?.bytesSent ?? 0) } == end.volume?.bytesSent)
    #expect(tracker.counters.updateEvents == 2)
  }

  @Test func anEndWithoutUpdatesHasItsTotalsAsDeltas() throws {
    var tracker = tracker()
    let events = feed(&tracker, [change(.established, at: 0), change(.ended(.fin, by: .remote), at: 3, sent(700))])
    #expect(events.last?.volumeDelta == sent(700))
  }

  @Test func aPreexistingConnectionBeginsWithItsTotalsAsTheBaseOfItsDeltas() throws {
    var tracker = tracker()
    let events = feed(
      &tracker,
      [
        change(.open(preexisting: true), at: 100, sent(1 << 40)),
        change(.open(preexisting: true), at: 105, sent((1 << 40) + 10)),  // known now, young: nothing
        change(.open(preexisting: false), at: 110, sent((1 << 40) + 50)),
        change(.ended(.rst, by: .remote), at: 111, sent((1 << 40) + 60)),
      ])
    #expect(events.map(\.name) == [.netFlowTCPBegin, .netFlowTCPUpdate, .netFlowTCPEnd])
    #expect(events.allSatisfy { $0.preexisting })
    #expect(events[0].process == nil && events[0].volume?.bytesSent == 1 << 40)
    #expect(events[0].volumeDelta == nil, "what it carried before the monitor is in no delta")
    #expect(events[1].volumeDelta?.bytesSent == 50)
    #expect(events[2].volumeDelta?.bytesSent == 10)
    #expect(tracker.counters.preexistingFlows == 1)
  }

  @Test func aFollowedSocketWhoseFlowIsUnknownIsCountedNotReported() {
    var tracker = tracker()
    let events = feed(&tracker, [change(.open(preexisting: false), at: 100, sent(10))])
    #expect(events.isEmpty)
    #expect(tracker.counters.walkedUnknownFlows == 1)
  }

  @Test func anIntervalOfZeroReportsNoUpdate() {
    var tracker = tracker(interval: 0)
    let events = feed(&tracker, [change(.established, at: 0), change(.open(preexisting: false), at: 1_000, sent(10))])
    #expect(events.map(\.name) == [.netFlowTCPBegin])
  }

  /// Bad input: totals that go down never make a negative (or wrapped 64-bit) delta; the kernel's
  /// 32-bit segment counters wrap modulo 2^32.
  @Test func countersThatGoDownGiveNoNegativeDelta() throws {
    var tracker = tracker(interval: 1)
    let events = feed(
      &tracker,
      [
        change(.established, at: 0),
        change(.open(preexisting: false), at: 1, sent(5_000, packets: UInt64(UInt32.max) - 1, retransmits: 9)),
        change(.open(preexisting: false), at: 2, sent(4_000, packets: 3, retransmits: 2)),
      ])
    let delta = try #require(events.last?.volumeDelta)
    #expect(delta.bytesSent == 0)
    #expect(delta.packetsSent == 5, "UInt32.max - 1 to 3 is 5 segments across the wrap")
    #expect(delta.retransmits == UInt64(UInt32(2) &- 9))
    #expect(tracker.counters.countersWentDown == 1)
    let huge = FlowVolume(bytesSent: .max, packetsSent: .max).since(FlowVolume(bytesSent: 1, packetsSent: .max - 1))
    #expect(huge.bytesSent == .max - 1 && huge.packetsSent == 1)
    #expect(FlowVolume(packetsSent: 1).since(FlowVolume(packetsSent: 1 << 40)).packetsSent == 0)
  }
}

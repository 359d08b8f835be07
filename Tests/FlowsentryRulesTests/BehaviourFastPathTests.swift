import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// The shortcuts the behaviour rules take per event give what the slow path gives.
@Suite struct BehaviourFastPathTests {
  /// EventFields reads `local` and `remote` from stored fields: they must be FlowEvent's own.
  @Test func localAndRemoteAreTheFlowEventsOwn() {
    let source = Endpoint(IPAddress("198.51.100.2")!, 40_000)
    let destination = Endpoint(IPAddress("203.0.113.9")!, 443)
    for name in EventName.allCases where name != .netPacketDNS {
      for direction in [ConnectionDirection.outgoing, .incoming] {
        for terminatedBy in [Side?.none, .local, .remote] {
          let flow = FlowEvent(
            name: name, timestamp: 1, direction: direction, source: source, destination: destination,
            terminatedBy: terminatedBy)
          let fields = EventFields(.flow(flow))
          #expect(fields.local == flow.local, "\(name) \(direction) \(String(describing: terminatedBy))")
          #expect(fields.remote == flow.remote, "\(name) \(direction) \(String(describing: terminatedBy))")
        }
      }
    }
  }

  /// A beaconing group folds every alert after its first within the suppression window, whether
  /// its intervals alone reach the minimum score (sizes not scored) or its sizes decide.
  @Test(arguments: [0.5, 0.75, 0.85, 0.95])
  func beaconingFoldsAreCountedExactly(minimumScore: Double) throws {
    let text = """
      - rule:
          id: BEACON-FOLD
          name: fold
          events: [net_flow_tcp_end]
          condition: conn_direction == outgoing
          beacon: {group_by: [remote], min_connections: 10, min_score: \(minimumScore)}
      """
    let engine = RuleEngine(rules: try RuleLoader.load(text: text, file: "fold.yaml"))
    var alerts: [Alert] = []
    var scored = 0
    let history = BeaconHistory()
    let local = Endpoint(IPAddress("198.51.100.2")!, 40_000)
    let remote = Endpoint(IPAddress("203.0.113.9")!, 443)
    var time: Int64 = 0
    var generator = SeededRandom(seed: 7)
    for index in 0..<400 {
      // Periodic with jitter, sizes from alike to scattered, so that some scores pass and some not.
      time += 60_000_000_000 + Int64(generator.next() % 8_000_000_000)
      let sent = UInt64(500 + (index % 40 < 20 ? generator.next() % 50 : generator.next() % 50_000))
      let volume = FlowVolume(
        bytesSent: sent, bytesReceived: 1_000, packetsSent: 6, packetsReceived: 8, retransmits: 0,
        rttMicroseconds: 100)
      let event = SensorEvent.flow(
        FlowEvent(
          name: .netFlowTCPEnd, timestamp: time, direction: .outgoing, source: local, destination: remote,
          terminatedBy: .local, volume: volume))
      engine.process(event, at: time, into: &alerts)
      history.record(at: time, bytes: sent + 1_000, event: event)
      if let score = history.score(for: BeaconRule(groupBy: ["remote"])), score.score >= minimumScore { scored += 1 }
    }
    // Each event whose group reached the score raised an alert or was folded into one.
    #expect(UInt64(scored) == engine.counters.alerts + engine.counters.suppressed)
    #expect(UInt64(alerts.count) == engine.counters.alerts)
  }
}

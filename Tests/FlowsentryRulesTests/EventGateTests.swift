import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// The direction and close-reason gates folded into the rule index: which conditions get one, and
/// that an engine calling only the rules their gate lets through raises the alerts and counts the
/// matches and suppressions of one calling every rule of the event name.
@Suite struct EventGateTests {
  static let ruleText = """
    - macro: {name: abrupt_end, condition: "close_reason in (rst, refused)"}
    - macro: {name: outgoing, condition: conn_direction == outgoing}
    - macro: {name: incoming, condition: conn_direction == incoming}
    - macro: {name: outgoing_to_web, condition: outgoing and remote_port == 443}
    - rule: {id: G-OUT, name: n, events: [net_flow_tcp_begin, net_flow_tcp_end], \
    condition: outgoing and remote_port < 1000, threshold: {count: 3, window: 10s, group_by: [remote]}, \
    output: "{count} {remote}"}
    - rule: {id: G-IN, name: n, events: [net_flow_tcp_begin, net_flow_tcp_end, net_flow_tcp_half_open], \
    condition: "incoming and not local_port in (22, 80)", output: "{remote_port}"}
    - rule: {id: G-ABRUPT, name: n, events: [net_flow_tcp_end], condition: abrupt_end and remote_port > 100, \
    suppress: {window: 5s, by: [remote]}, output: "{close_reason}"}
    - rule: {id: G-FIN, name: n, events: [net_flow_tcp_end], condition: close_reason == fin and incoming, \
    output: "{remote}"}
    - rule: {id: G-NESTED, name: n, events: [net_flow_tcp_begin, net_packet_dns], \
    condition: outgoing_to_web and remote_port != 0, output: "{remote}"}
    - rule: {id: G-NOTEQ, name: n, events: [net_flow_tcp_end, net_flow_tcp_update], \
    condition: conn_direction != outgoing and remote_port > 500, output: "{remote}"}
    - rule: {id: G-NONE-OR, name: n, events: [net_flow_tcp_end], \
    condition: outgoing or close_reason == timeout, threshold: {count: 2, window: 3s, group_by: [local_port]}}
    - rule: {id: G-NONE-NOT, name: n, events: [net_flow_tcp_begin], condition: not incoming, \
    suppress: {window: 2s, by: [remote_port]}}
    - rule: {id: G-NONE-LATER, name: n, events: [net_flow_tcp_begin], condition: remote_port > 200 and outgoing}
    """

  /// The gate each rule's condition starts with, by the field it reads.
  @Test func onlyAConditionStartingWithADirectionOrCloseReasonTestHasAGate() throws {
    let rules = try RuleLoader.load(text: Self.ruleText, file: "g.yaml").rules
    let gates = Dictionary(uniqueKeysWithValues: rules.map { ($0.id, $0.eventGate.map { "\($0.field)" } ?? "none") })
    #expect(gates["G-OUT"] == "direction")
    #expect(gates["G-IN"] == "direction")
    #expect(gates["G-ABRUPT"] == "closeReason")
    #expect(gates["G-FIN"] == "closeReason")
    #expect(gates["G-NESTED"] == "direction")
    #expect(gates["G-NOTEQ"] == "direction")
    #expect(gates["G-NONE-OR"] == "none")
    #expect(gates["G-NONE-NOT"] == "none")
    #expect(gates["G-NONE-LATER"] == "none")
    let abrupt = try #require(rules.first { $0.id == "G-ABRUPT" }?.eventGate)
    #expect(abrupt.passingCodes() == [false, false, true, true, false])
    let notOutgoing = try #require(rules.first { $0.id == "G-NOTEQ" }?.eventGate)
    // A comparison on a missing field is false, `!=` too.
    #expect(notOutgoing.passingCodes() == [false, false, true])
  }

  /// The index leaves a gated rule out of the buckets its gate cannot pass, and keeps the rest.
  @Test func theIndexFilesAGatedRuleOnlyWhereItsGatePasses() throws {
    let loaded = try RuleLoader.load(text: Self.ruleText, file: "g.yaml").rules
    let index = RuleIndex(rules: loaded)
    func rules(_ name: EventName, _ direction: ConnectionDirection?, _ reason: CloseReason?) -> [String] {
      let bucket = EventGateCodes.bucket(
        name: RuleIndex.nameIndex(name), direction: EventGateCodes.direction(direction),
        closeReason: EventGateCodes.closeReason(reason))
      return Array(index.buckets[bucket].all).map { loaded[$0].id }
    }
    #expect(rules(.netFlowTCPBegin, .outgoing, nil) == ["G-OUT", "G-NESTED", "G-NONE-NOT", "G-NONE-LATER"])
    #expect(rules(.netFlowTCPBegin, .incoming, nil) == ["G-IN", "G-NONE-NOT", "G-NONE-LATER"])
    #expect(rules(.netFlowTCPEnd, .incoming, .fin) == ["G-IN", "G-FIN", "G-NOTEQ", "G-NONE-OR"])
    #expect(rules(.netFlowTCPEnd, .outgoing, .rst) == ["G-OUT", "G-ABRUPT", "G-NONE-OR"])
    #expect(rules(.netPacketDNS, nil, nil) == [])
  }

  /// Over generated events, the gated engine and one with every gate removed raise the same alerts
  /// in the same order and count the same.
  @Test func gatedAndUngatedEnginesAgree() throws {
    let gated = try RuleLoader.load(text: Self.ruleText, file: "g.yaml")
    var ungated = gated
    ungated.rules = gated.rules.map { rule in
      var rule = rule
      rule.eventGate = nil
      return rule
    }
    #expect(gated.rules.contains { $0.eventGate != nil })
    let engines = (RuleEngine(rules: gated), RuleEngine(rules: ungated))
    var alerts: ([Alert], [Alert]) = ([], [])
    var random: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next(_ bound: Int) -> Int {
      random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int((random >> 33) % UInt64(bound))
    }
    let names: [EventName] = [.netFlowTCPBegin, .netFlowTCPEnd, .netFlowTCPHalfOpen, .netFlowTCPUpdate, .netPacketDNS]
    let reasons: [CloseReason?] = [nil, .fin, .rst, .refused, .timeout]
    for step in 0..<4_000 {
      let local = Endpoint(IPAddress("198.51.100.2")!, [22, 80, 8080][next(3)])
      let time = Int64(step) * 300_000_000
      let remote = Endpoint(.v4(0xCB00_7100 | UInt32(next(8))), UInt16([0, 80, 150, 443, 700, 5000][next(6)]))
      let name = names[next(names.count)]
      let event: SensorEvent
      if name == .netPacketDNS {
        event = .dns(
          DNSEvent(
            timestamp: time, source: local, destination: remote, transport: .udp, cgroupID: 0, id: 1,
            responseCode: 0, questions: ["example.org."], answers: [], truncated: false))
      } else {
        let direction: ConnectionDirection = next(2) == 0 ? .outgoing : .incoming
        event = .flow(
          FlowEvent(
            name: name, timestamp: time, direction: direction,
            source: direction == .outgoing ? local : remote, destination: direction == .outgoing ? remote : local,
            closeReason: name == .netFlowTCPEnd ? reasons[next(reasons.count)] : nil,
            terminatedBy: name == .netFlowTCPEnd ? .local : nil))
      }
      engines.0.process(event, at: time, into: &alerts.0)
      engines.1.process(event, at: time, into: &alerts.1)
    }
    #expect(alerts.0.count > 100)
    #expect(alerts.0.map(\.ruleID) == alerts.1.map(\.ruleID))
    #expect(alerts.0.map(\.message) == alerts.1.map(\.message))
    #expect(alerts.0.map(\.count) == alerts.1.map(\.count))
    #expect(alerts.0.map(\.suppressed) == alerts.1.map(\.suppressed))
    #expect(alerts.0.map { $0.events.map(\.timestamp) } == alerts.1.map { $0.events.map(\.timestamp) })
    #expect(alerts.0.map(\.eventsLeftOut) == alerts.1.map(\.eventsLeftOut))
    #expect(engines.0.counters == engines.1.counters)
    #expect(engines.0.perRule == engines.1.perRule)
    #expect(Set(alerts.0.map(\.ruleID)).count >= 6)
  }
}

import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// A domain-list test over a field of names walks the event's names in place
/// (`EventFields.anyName`); it must answer as reading the field's value does (`IntelTerm.match`,
/// which reads the copy), for each field, on which side the peer is, and names short enough to be
/// held inline as well as longer ones.
@Suite struct NameWalkTests {
  static let names = [
    "evil.example", "A.EVIL.example.", "notevil.example", "x", "", "long-label-under-the-listed.evil.example",
    "café.evil.example", "clean.test", "very-long-clean-name-that-is-not-listed.test", "other.example",
  ]

  static func rule(_ field: String) throws -> RuleSet {
    try RuleLoader.load(
      text: """
        - list: {name: bad_domains, type: domain, match: suffix, items: [evil.example, other.example]}
        - rule:
            id: T-WALK
            name: walk
            events: [net_flow_tcp_begin, net_flow_tcp_half_open, net_flow_tcp_update, net_flow_tcp_end, net_packet_dns]
            condition: \(field) in bad_domains
        """)
  }

  /// Flow events with `sourceNames` and `destinationNames` drawn from `names`, each way round.
  static func events() -> [SensorEvent] {
    var events: [SensorEvent] = []
    var draw = UInt64(7)
    func pick() -> [String] {
      draw = draw &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      let count = Int(draw >> 61) % 4
      return (0..<count).map { offset in names[Int((draw >> (8 * UInt64(offset + 1))) & 0xff) % names.count] }
    }
    let local = Endpoint(IPAddress("198.51.100.2")!, 40_000)
    let peer = Endpoint(IPAddress("198.51.100.77")!, 443)
    for _ in 0..<200 {
      for direction in [ConnectionDirection.outgoing, .incoming] {
        let (source, destination) = direction == .outgoing ? (local, peer) : (peer, local)
        for name in [EventName.netFlowTCPBegin, .netFlowTCPHalfOpen, .netFlowTCPUpdate] {
          events.append(
            .flow(
              FlowEvent(
                name: name, timestamp: 0, direction: direction, source: source, destination: destination,
                sourceNames: pick(), destinationNames: pick())))
        }
        for side in [Side.local, .remote] {
          events.append(
            .flow(
              FlowEvent(
                name: .netFlowTCPEnd, timestamp: 0, direction: direction, source: source, destination: destination,
                sourceNames: pick(), destinationNames: pick(), closeReason: .fin, terminatedBy: side,
                durationNanoseconds: 1)))
        }
      }
      events.append(
        .dns(
          DNSEvent(
            timestamp: 0, source: local, destination: Endpoint(IPAddress("198.51.100.53")!, 53), transport: .udp,
            cgroupID: 0, id: 1, responseCode: 0, questions: pick(), answers: [], truncated: false)))
    }
    return events
  }

  @Test(arguments: ["src_dns", "dst_dns", "remote_dns", "dns.questions"])
  func theInPlaceWalkAnswersAsTheFieldsValue(field: String) throws {
    // The walk is what the rule runs, not the copying path both sides would otherwise share.
    #expect(Fields.byName[field]?.nameList != nil)
    let rules = try Self.rule(field)
    let rule = rules.rules[0]
    #expect(rule.intelTerms.count == 1)
    let events = Self.events()
    // One instance refilled per event, as the engine's: a DNS event after a flow clears its names.
    let fields = EventFields.blank()
    var listed = 0
    for event in events {
      fields.load(event)
      let expected = rule.intelTerms[0].match(fields) != nil
      #expect(rule.matcher(fields) == expected, "\(field) on \(event)")
      if expected { listed += 1 }
    }
    // Both answers occur, so that the comparison means something.
    #expect(listed > 50 && listed < events.count)
  }
}

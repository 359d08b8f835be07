import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// `IntelTerm.firstIndicator`, the suppression key without the alert's description, names exactly
/// the indicator `match` describes, for every field shape and indicator type.
@Suite struct IntelTermIndicatorTests {
  static let lists = """
    - list: {name: bad_domains, type: domain, match: suffix, items: [evil.example, Other.Example]}
    - list: {name: bad_addresses, type: address, items: [203.0.113.0/28, 198.51.100.9]}
    - list: {name: bad_ports, type: port, items: [4444]}
    - list: {name: bad_tools, type: string, items: [nc]}
    """

  static func rules(_ condition: String) throws -> RuleSet {
    let path = NSTemporaryDirectory() + "flowsentry-intel-term-" + UUID().uuidString + ".yaml"
    defer { try? FileManager.default.removeItem(atPath: path) }
    let text = """
      \(lists)
      - rule:
          id: T-TERM
          name: term
          events: [net_flow_tcp_begin, net_packet_dns]
          condition: \(condition)
      """
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return try RuleLoader.load(paths: [path])
  }

  static func connection(to address: String, port: UInt16 = 443, names: [String] = [], command: String = "curl")
    -> SensorEvent
  {
    var flow = FlowEvent(
      name: .netFlowTCPBegin, timestamp: 0, direction: .outgoing,
      source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress(address)!, port),
      destinationNames: names)
    flow.process = ProcessIdentity(pid: 1, uid: 0, command: command)
    return .flow(flow)
  }

  static func lookup(_ names: [String], answers: [String] = []) -> SensorEvent {
    .dns(
      DNSEvent(
        timestamp: 0, source: Endpoint(IPAddress("198.51.100.2")!, 5353),
        destination: Endpoint(IPAddress("198.51.100.53")!, 53), transport: .udp, cgroupID: 0, id: 1,
        responseCode: 0, questions: names,
        answers: answers.map { DNSEvent.Answer(name: names.first ?? "", type: "A", timeToLive: 60, data: $0) },
        truncated: false))
  }

  /// Each term's and the rule's indicator for `event`, checked against `match`.
  static func indicators(_ rules: RuleSet, _ event: SensorEvent) -> String? {
    let terms = rules.rules[0].intelTerms
    let fields = EventFields(event)
    for term in terms {
      #expect(term.firstIndicator(fields) == term.match(fields)?.match.indicator)
    }
    let first = IntelTerm.firstIndicator(terms, fields, ruleSeverity: .medium)
    #expect(first == IntelTerm.firstMatch(terms, fields, ruleSeverity: .medium)?.match.indicator)
    return first
  }

  @Test func domainTermsNameTheListedSuffixOfTheFirstListedName() throws {
    let rules = try Self.rules("remote_dns in bad_domains or dns.questions in bad_domains")
    #expect(rules.rules[0].intelTerms.count == 2)
    #expect(
      Self.indicators(rules, Self.lookup(["clean.example", "a.b.evil.example", "other.example"])) == "evil.example")
    #expect(Self.indicators(rules, Self.lookup(["x.other.example", "evil.example"])) == "other.example")
    #expect(Self.indicators(rules, Self.lookup(["notevil.example", "clean.test"])) == nil)
    #expect(Self.indicators(rules, Self.lookup([])) == nil)
    #expect(Self.indicators(rules, Self.connection(to: "203.0.113.200", names: ["www.evil.example"])) == "evil.example")
    #expect(Self.indicators(rules, Self.connection(to: "203.0.113.200")) == nil)
  }

  @Test func addressTermsNameTheBlockOrAddressAndAnswersSkipNames() throws {
    let rules = try Self.rules("remote in bad_addresses or dns.answers in bad_addresses")
    #expect(Self.indicators(rules, Self.connection(to: "203.0.113.7")) == "203.0.113.0/28")
    #expect(Self.indicators(rules, Self.connection(to: "198.51.100.9")) == "198.51.100.9/32")
    #expect(Self.indicators(rules, Self.connection(to: "198.51.100.10")) == nil)
    let answers = Self.lookup(["x.example"], answers: ["cname.example", "192.0.2.1", "198.51.100.9", "203.0.113.1"])
    #expect(Self.indicators(rules, answers) == "198.51.100.9/32")
  }

  @Test func portAndStringTermsNameTheirValue() throws {
    let rules = try Self.rules("dst_port in bad_ports or process.comm in bad_tools")
    #expect(Self.indicators(rules, Self.connection(to: "203.0.113.200", port: 4444)) == "4444")
    #expect(Self.indicators(rules, Self.connection(to: "203.0.113.200", command: "nc")) == "nc")
    #expect(Self.indicators(rules, Self.connection(to: "203.0.113.200")) == nil)
  }
}

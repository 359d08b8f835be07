import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// `{indicator}`, `{indicator.list}` and `{indicator.source}` in a rule's output say what a typed list
/// matched, as the alert's `indicator` does; `-` where no list decided the match.
@Suite struct OutputIndicatorTests {
  static func rules(output: String) throws -> RuleSet {
    try RuleLoader.load(
      text: """
        - list: {name: c2, type: domain, match: suffix, items: [evil.example]}
        - rule:
            id: T-OUTPUT
            name: output
            severity: high
            events: [net_flow_tcp_begin]
            condition: remote_dns in c2 or remote_port == 4444
            output: "\(output)"
        """, file: "output.yaml")
  }

  static func message(_ rules: RuleSet, names: [String], port: UInt16 = 443) -> String? {
    let engine = RuleEngine(rules: rules)
    var alerts: [Alert] = []
    let event = SensorEvent.flow(
      FlowEvent(
        name: .netFlowTCPBegin, timestamp: 1, direction: .outgoing,
        source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("203.0.113.9")!, port),
        destinationNames: names))
    engine.process(event, at: 1, into: &alerts)
    return alerts.first?.message
  }

  @Test func theIndicatorItsListAndSourceFillTheMessage() throws {
    let rules = try Self.rules(output: "{indicator} in {indicator.list} ({indicator.source}) for {remote_dns}")
    #expect(
      Self.message(rules, names: ["a.EVIL.example"]) == "evil.example in c2 (output.yaml:1) for a.EVIL.example")
    // Matched by the port, no list: the placeholders say none.
    #expect(Self.message(rules, names: ["fine.example"], port: 4444) == "- in - (-) for fine.example")
  }

  @Test func anUnknownIndicatorPartIsAPositionedError() {
    let error = #expect(throws: RuleLoadError.self) { try Self.rules(output: "{indicator.feed}") }
    let diagnostic = error?.diagnostics.first { $0.message.contains("'{indicator.feed}'") }
    #expect(diagnostic.map { [$0.line, $0.column] } == [8, 13], "\(String(describing: error))")
  }
}

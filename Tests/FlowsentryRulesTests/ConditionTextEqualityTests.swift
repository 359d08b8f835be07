import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// `==`, `!=` and small `in` sets compare texts as Swift's `==` does (Unicode canonical
/// equivalence): a look-alike that `==` equates with a value (KELVIN SIGN for K, a decomposed
/// accent) matches it, so renaming a process with one does not slip past `process.comm == Kinsing`.
@Suite struct ConditionTextEqualityTests {
  static let kelvinSign = "\u{212A}"
  static let precomposed = "caf\u{E9}"
  static let decomposed = "cafe\u{301}"

  @Test func aConditionMatchesALookAlikeThatUnicodeEquates() throws {
    let rules = try RuleLoader.load(
      text: """
        - rule:
            id: T-1
            name: t
            severity: low
            events: [net_flow_tcp_begin]
            condition: process.comm == Kinsing or process.comm in ('caf\u{E9}', x) or process.comm != other
            output: x
        """)
    #expect(rules.rules.count == 1)
    func fires(_ command: String?) -> Bool {
      let engine = RuleEngine(rules: rules)
      var alerts: [Alert] = []
      let event = SensorEvent.flow(
        FlowEvent(
          name: .netFlowTCPBegin, timestamp: 0, direction: .outgoing,
          source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("203.0.113.9")!, 443),
          process: command.map { ProcessIdentity(pid: 1, uid: 0, command: $0) }))
      engine.process(event, at: 0, into: &alerts)
      return !alerts.isEmpty
    }
    #expect(fires(Self.kelvinSign + "insing"))
    #expect(fires(Self.decomposed))
    #expect(fires("anything"))
    #expect(!fires("other"))
  }
}

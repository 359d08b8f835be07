import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// Quoted values in conditions: only the quote and the backslash are escapes, so a regex keeps its
/// backslashes (a dropped one turned `\.` into "any character" and the shipped FS-DNS-001 into a
/// false-positive source).
@Suite struct ConditionStringTests {
  private func alerts(_ condition: String, names: [String]) throws -> Int {
    let text = """
      - rule:
          id: T-1
          name: t
          severity: low
          events: [net_flow_tcp_begin]
          condition: \(condition)
          output: x
      """
    let engine = RuleEngine(rules: try RuleLoader.load(text: text))
    var count = 0
    for (index, name) in names.enumerated() {
      var alerts: [Alert] = []
      let event = SensorEvent.flow(
        FlowEvent(
          name: .netFlowTCPBegin, timestamp: Int64(index) * 60_000_000_000, direction: .outgoing,
          source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("203.0.113.9")!, 443),
          destinationNames: [name]))
      engine.process(event, at: Int64(index) * 60_000_000_000, into: &alerts)
      count += alerts.count
    }
    return count
  }

  @Test func aBackslashBeforeAnythingButTheQuoteOrItselfIsKept() throws {
    #expect(try alerts(#"dst_dns matches 'a\.example$'"#, names: ["a.example", "axexample"]) == 1)
    #expect(try alerts(#"dst_dns matches 'a\\.example$'"#, names: ["a.example", "axexample"]) == 1)
    #expect(try alerts(#"dst_dns matches '^\d+\.test$'"#, names: ["42.test", "d.test", "dd.test"]) == 1)
  }

  @Test func theQuoteAndTheBackslashAreEscapes() throws {
    #expect(try alerts(#"dst_dns == 'it\'s'"#, names: ["it's", "it\\'s"]) == 1)
    #expect(try alerts(#"dst_dns == "say \"hi\"""#, names: ["say \"hi\"", "say hi"]) == 1)
    #expect(try alerts(#"dst_dns contains 'a\\b'"#, names: ["a\\b", "ab"]) == 1)
  }
}

import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// A test's `alerts:` run: each raised alert against its entry, and what `rules test` prints.
@Suite struct AlertExpectationRunTests {
  /// A rule with a text per event kind, and one test of two lookups and a connection.
  static func rule(alerts: String) -> String {
    """
    - rule:
        id: T-TEXT
        name: text
        severity: high
        events: [net_packet_dns, net_flow_tcp_begin]
        condition: dns.questions iendswith (.oast.fun) or remote_dns iendswith (.oast.fun)
        output:
          net_packet_dns: "lookup of {dns.questions} answered {dns.answers}"
          net_flow_tcp_begin: "{process.comm} connected to {remote_dns}"
        tests:
          - name: two lookups and a connection
            events:
              - {at: 0s, event: net_packet_dns, questions: [a.oast.fun], answers: [203.0.113.7]}
              - {at: 1s, event: net_packet_dns, questions: [b.oast.fun], answered: false}
              - {at: 2s, event: net_flow_tcp_begin, dst_dns: [a.oast.fun], process: {comm: curl}}
            alerts:
    \(alerts.split(separator: "\n").map { "          " + $0 }.joined(separator: "\n"))
    """
  }

  static func result(_ alerts: String) throws -> RuleTestRunner.Result {
    let results = RuleTestRunner.run(try RuleLoader.load(text: rule(alerts: alerts), file: "t.yaml"))
    return try #require(results.first)
  }

  @Test func alertsAsWrittenPass() throws {
    let result = try Self.result(
      """
      - output: "lookup of a.oast.fun answered 203.0.113.7"
      - {output_contains: [lookup of b.oast.fun, answered -], severity: high}
      - output: "curl connected to a.oast.fun"
      """)
    #expect(result.passed, "\(result.lines)")
    #expect(result.lines == ["ok   T-TEXT: two lookups and a connection"])
    #expect(result.raisedAlerts.map(\.message)[2] == "curl connected to a.oast.fun")
  }

  @Test func aTextThatDiffersFailsAndSaysWhatWasRaised() throws {
    let result = try Self.result(
      """
      - output: "lookup of a.oast.fun answered 203.0.113.7"
      - output_contains: "lookup of c2.example"
      - {}
      """)
    #expect(!result.passed)
    #expect(result.expected == 3 && result.raised == 3)
    #expect(result.alertFailures.map(\.alert) == [2])
    #expect(result.alertFailures.first?.unmet == ["output containing \"lookup of c2.example\""])
    #expect(
      result.lines == [
        "FAIL T-TEXT: two lookups and a connection (alert 2 of 3 not as 'alerts' expects) at t.yaml:11",
        "     alert 2 expected at t.yaml:18: output containing \"lookup of c2.example\"",
        "     alert 2 raised: high \"lookup of b.oast.fun answered -\"",
      ])
  }

  /// The entries are in the order raised: the right texts in another order fail.
  @Test func theOrderCounts() throws {
    let result = try Self.result(
      """
      - output: "curl connected to a.oast.fun"
      - {}
      - output: "lookup of a.oast.fun answered 203.0.113.7"
      """)
    #expect(result.alertFailures.map(\.alert) == [1, 3])
    #expect(result.lines.first?.contains("(alerts 1, 3 of 3 not as 'alerts' expects)") == true)
  }

  @Test func aWrongSeverityAndAWholeTextFailTogether() throws {
    let result = try Self.result(
      """
      - {output: "lookup of a.oast.fun", severity: low}
      - {}
      - {}
      """)
    #expect(result.alertFailures.first?.unmet == ["output \"lookup of a.oast.fun\"", "severity low"])
    #expect(
      result.lines.dropFirst().first
        == "     alert 1 expected at t.yaml:17: output \"lookup of a.oast.fun\", severity low")
  }

  /// A count that is off is said as for any test, with the texts that were raised under it.
  @Test func aCountThatIsOffListsTheRaisedTexts() throws {
    let result = try Self.result("- {}\n- {}")
    #expect(!result.passed && result.raised == 3)
    #expect(
      result.lines == [
        "FAIL T-TEXT: two lookups and a connection (expected 2 alerts, raised 3) at t.yaml:11",
        "     alert 1 raised: high \"lookup of a.oast.fun answered 203.0.113.7\"",
        "     alert 2 raised: high \"lookup of b.oast.fun answered -\"",
        "     alert 3 raised: high \"curl connected to a.oast.fun\"",
      ])
  }

  /// A raised text is shown with its control characters escaped: it holds what events carried.
  @Test func controlCharactersInARaisedTextAreEscaped() throws {
    let expectation = AlertExpectation(
      output: "x", location: SourceLocation(file: "t.yaml", line: 1, column: 1))
    #expect(expectation.unmet(message: "\u{1B}[2J", severity: .high) == ["output \"x\""])
    #expect(RuleTestRunner.RaisedAlert(message: "a\u{1B}[2Jb", severity: .low).description == "low \"a\\u{1B}[2Jb\"")
  }

  /// A capture test's alerts come from replay; its texts are checked as an inline test's are.
  @Test func captureTestsCheckTheirAlertsToo() throws {
    let rules = try RuleLoader.load(
      text: """
        - rule:
            id: T-CAP
            name: capture
            events: [net_packet_dns]
            condition: dns.questions iendswith (.oast.fun)
            output: "lookup of {dns.questions}"
            tests:
              - name: replayed
                capture: lookups.pcap
                alerts: [{output: "lookup of a.oast.fun"}, {output_contains: c.oast.fun}]
        """, file: "rules/t.yaml")
    // Stands in for replay: the rule under test alone, over the lookups the capture would hold.
    let replay: RuleTestRunner.CaptureRunner = { capture, alone in
      #expect(capture.path == "rules/lookups.pcap")
      let engine = RuleEngine(rules: alone)
      var alerts: [Alert] = []
      for (index, name) in ["a.oast.fun", "b.oast.fun"].enumerated() {
        let lookup = DNSEvent(
          timestamp: Int64(index), source: Endpoint(IPAddress("198.51.100.53")!, 53),
          destination: Endpoint(IPAddress("198.51.100.2")!, 40_000), transport: .udp, cgroupID: 0, id: 1,
          responseCode: 0, questions: [name], answers: [], truncated: false)
        engine.process(.dns(lookup), at: Int64(index), into: &alerts)
      }
      return .success(alerts)
    }
    let result = try #require(RuleTestRunner.run(rules, captures: replay).first)
    #expect(result.raised == 2 && result.alertFailures.map(\.alert) == [2])
    #expect(result.lines.last == "     alert 2 raised: medium \"lookup of b.oast.fun\"")
  }
}

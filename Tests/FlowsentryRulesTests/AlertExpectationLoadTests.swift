import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// `alerts:` in a rule test: what each alert the test raises must say, read with every mistake at
/// its position.
@Suite struct AlertExpectationLoadTests {
  /// A rule over lookups of `.oast.fun` names whose test is `test` (indented as a test's keys).
  static func rule(test: String) -> String {
    """
    - rule:
        id: T-TEXT
        name: text
        severity: high
        events: [net_packet_dns]
        condition: dns.questions iendswith (.oast.fun)
        output: "lookup of {dns.questions}"
        tests:
          - name: t
            events:
              - {event: net_packet_dns, questions: [a.oast.fun]}
    \(test)
    """
  }

  static func errors(_ text: String) -> [Diagnostic] {
    do {
      _ = try RuleLoader.load(text: text, file: "t.yaml")
      return []
    } catch {
      return error.diagnostics.filter { $0.severity == .error }
    }
  }

  @Test func everyFormLoadsAndAlertsSaysHowMany() throws {
    let rules = try RuleLoader.load(
      text: Self.rule(
        test: [
          "        alerts:", "          - output: \"lookup of a.oast.fun\"",
          "          - {output_contains: a.oast, severity: critical}",
          "          - output_contains: [lookup, \"of a\"]",
          "          - {}",
        ].joined(separator: "\n")), file: "t.yaml")
    let test = try #require(rules.rules.first?.tests.first)
    let alerts = try #require(test.alerts)
    #expect(test.expectedAlerts == 4)
    #expect(alerts.map(\.output) == ["lookup of a.oast.fun", nil, nil, nil])
    #expect(alerts.map(\.outputContains) == [[], ["a.oast"], ["lookup", "of a"], []])
    #expect(alerts.map(\.severity) == [nil, .critical, nil, nil])
    #expect(alerts.map(\.location.line) == [13, 14, 15, 16])
  }

  @Test func aTestWithoutAlertsChecksNoText() throws {
    let rules = try RuleLoader.load(text: Self.rule(test: "        expect: 1"), file: "t.yaml")
    #expect(rules.rules.first?.tests.first?.alerts == nil)
    // `alerts: []` is a test that must stay quiet, as `expect: 0`.
    let quiet = try RuleLoader.load(text: Self.rule(test: "        alerts: []"), file: "t.yaml")
    #expect(quiet.rules.first?.tests.first?.expectedAlerts == 0)
    #expect(quiet.rules.first?.tests.first?.alerts?.isEmpty == true)
  }

  /// Each mistake, its line and column, and what the message says.
  static let mistakes: [(test: String, line: Int, column: Int, message: String)] = [
    (
      "        alerts:\n          - {outptu: x}", 13, 14,
      "unknown key 'outptu' in an entry of 'alerts'; did you mean 'output'?"
    ),
    ("        alerts:\n          - {output_contain: x}", 13, 14, "did you mean 'output_contains'?"),
    ("        alerts:\n          - {output: \"\"}", 13, 22, "'output' is the alert's whole text"),
    ("        alerts:\n          - {output: [a]}", 13, 22, "'output' is the alert's whole text"),
    ("        alerts:\n          - {output_contains: \"\"}", 13, 31, "each text of 'output_contains' is a non-empty"),
    ("        alerts:\n          - {output_contains: [a, \"\"]}", 13, 35, "each text of 'output_contains'"),
    ("        alerts:\n          - {output_contains: []}", 13, 31, "'output_contains' is a text, or a list of texts"),
    ("        alerts:\n          - {output_contains: {a: b}}", 13, 31, "'output_contains' is a text, or a list"),
    ("        alerts:\n          - {output: x, output_contains: x}", 13, 22, "one or the other"),
    ("        alerts:\n          - {severity: urgent}", 13, 24, "severity must be one of info, low"),
    ("        alerts:\n          - lookup of a.oast.fun", 13, 13, "an entry of 'alerts' is a mapping"),
    ("        alerts: {output: x}", 12, 17, "'alerts' is a list of the alerts expected"),
    ("        alerts: [{}, {}]\n        expect: 1", 12, 9, "'alerts' lists 2 alerts and 'expect' says 1"),
    (
      "        output_contains: a.oast\n        expect: 1", 12, 9,
      "'output_contains' is said of one alert: put it in 'alerts'"
    ),
    ("        severity: high\n        expect: 1", 12, 9, "'severity' is said of one alert"),
    ("        alert: []\n        expect: 0", 12, 9, "unknown key 'alert' in a test; did you mean 'alerts'?"),
    ("", 9, 9, "a test needs 'expect', the number of alerts expected (0: none), or 'alerts'"),
  ]

  @Test(arguments: mistakes.indices)
  func mistakesArePositioned(index: Int) throws {
    let mistake = Self.mistakes[index]
    let errors = Self.errors(Self.rule(test: mistake.test))
    let error = try #require(errors.first, "\(mistake.test)")
    // One error a mistake, and a test's keys never listed as taking what only an entry does.
    #expect(errors.count == 1, "\(errors)")
    #expect(!error.message.contains("keys: name, events, capture, local, expect, alerts, output"))
    #expect(error.message.contains(mistake.message), "\(error)")
    #expect((error.line, error.column) == (mistake.line, mistake.column), "\(error)")
    #expect(error.description.contains("t.yaml:\(mistake.line):\(mistake.column): error:"))
  }

  /// A mistake in `alerts` leaves the test out without hiding those in its events.
  @Test func theEventsOfATestWithBadAlertsAreStillChecked() {
    let errors = Self.errors(
      """
      - rule:
          id: T-TEXT
          name: text
          events: [net_packet_dns]
          condition: dns.questions iendswith (.oast.fun)
          tests:
            - name: t
              alerts: [{severity: urgent}]
              events:
                - {event: net_packet_dns, src_port: 70000}
      """)
    #expect(errors.map(\.line) == [8, 10], "\(errors)")
  }
}

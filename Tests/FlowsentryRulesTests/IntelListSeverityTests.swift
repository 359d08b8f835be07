import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// An alert takes the highest severity among the typed lists that match its event, whatever the
/// order of the `or` operands, and names an indicator of that list; a suppression by indicator keys
/// on the indicator the alert names.
@Suite struct IntelListSeverityTests {
  static let lists = """
    - list: {name: lowl, type: address, severity: low, items: [5.5.5.0/24, 6.6.6.6]}
    - list: {name: crit, type: address, severity: critical, items: [5.5.5.5]}
    - list: {name: plain, type: address, items: [5.5.5.5, 6.6.6.6]}
    - list: {name: info_names, type: domain, match: suffix, severity: info, items: [evil.example]}
    """

  static func rules(_ condition: String, severity: String = "medium", suppress: String? = nil) throws -> RuleSet {
    let text = """
      \(lists)
      - rule:
          id: T-SEVERITY
          name: severity
          severity: \(severity)
          events: [net_flow_tcp_begin]
          condition: \(condition)
      \(suppress.map { "    suppress: \($0)" } ?? "")
      """
    return try RuleLoader.load(text: text, file: "severity.yaml")
  }

  static func connection(to address: String, names: [String] = [], at second: Int64 = 0) -> SensorEvent {
    RuleIntelListTests.connection(to: address, names: names, at: second)
  }

  static func alerts(_ rules: RuleSet, _ events: [SensorEvent]) -> [Alert] { RuleIntelListTests.alerts(rules, events) }

  static func alert(_ condition: String, _ address: String, names: [String] = [], severity: String = "medium") throws
    -> Alert?
  {
    try Self.alerts(Self.rules(condition, severity: severity), [Self.connection(to: address, names: names)]).first
  }

  @Test func theHighestSeverityWinsInEitherOrder() throws {
    for condition in ["remote in lowl or remote in crit", "remote in crit or remote in lowl"] {
      let both = try #require(try Self.alert(condition, "5.5.5.5"), "\(condition)")
      #expect(both.severity == .critical, "\(condition)")
      #expect(both.indicator?.list == "crit", "\(condition)")
      #expect(both.indicator?.indicator == "5.5.5.5/32", "\(condition)")
      let lowOnly = try #require(try Self.alert(condition, "5.5.5.9"))
      #expect(lowOnly.severity == .low)
      #expect(lowOnly.indicator?.list == "lowl")
      #expect(lowOnly.indicator?.indicator == "5.5.5.0/24")
    }
  }

  /// A list without `severity` counts as the rule's: above a low list, below a critical one.
  @Test func aListWithoutSeverityCountsAsTheRules() throws {
    for condition in ["remote in lowl or remote in plain", "remote in plain or remote in lowl"] {
      let alert = try #require(try Self.alert(condition, "6.6.6.6", severity: "high"))
      #expect(alert.severity == .high, "\(condition)")
      #expect(alert.indicator?.list == "plain", "\(condition)")
      let below = try #require(try Self.alert(condition, "6.6.6.6", severity: "info"))
      #expect(below.severity == .low, "\(condition)")
      #expect(below.indicator?.list == "lowl", "\(condition)")
    }
    let critical = try #require(try Self.alert("remote in plain or remote in crit", "5.5.5.5", severity: "high"))
    #expect(critical.severity == .critical)
    #expect(critical.indicator?.list == "crit")
  }

  /// Of lists of one severity, the first in the condition's order names the indicator, as before.
  @Test func equalSeveritiesKeepTheFirstMatch() throws {
    let first = try #require(try Self.alert("remote in plain or remote in crit", "5.5.5.5", severity: "critical"))
    #expect(first.indicator?.list == "plain")
    #expect(first.severity == .critical)
    let domainFirst = try #require(
      try Self.alert("remote_dns in info_names or remote in lowl", "6.6.6.6", names: ["a.evil.example"]))
    #expect(domainFirst.indicator?.list == "lowl")
    #expect(domainFirst.severity == .low)
    let infoOnly = try #require(
      try Self.alert("remote_dns in info_names or remote in lowl", "7.7.7.7", names: ["a.evil.example"]))
    #expect(infoOnly.severity == .info)
    #expect(infoOnly.indicator?.indicator == "evil.example")
  }

  /// A list in an `and` whose other operands do not hold on the event does not decide the alert:
  /// the branch that held does, whatever the severities.
  @Test func aListInABranchThatDidNotHoldDecidesNothing() throws {
    let condition = "remote in lowl or (remote in crit and remote_port == 22)"
    let https = try #require(try Self.alert(condition, "5.5.5.5"))
    #expect(https.severity == .low)
    #expect(https.indicator?.list == "lowl")
    let ssh = try #require(
      try Self.alerts(Self.rules(condition), [RuleIntelListTests.connection(to: "5.5.5.5", port: 22)]).first)
    #expect(ssh.severity == .critical)
    #expect(ssh.indicator?.list == "crit")
    // Nested: the `and` above the `or` holds, the inner `and` does not.
    let nested = "event == net_flow_tcp_begin and (remote in lowl or (remote_port == 22 and remote in crit))"
    #expect(try Self.alert(nested, "5.5.5.5")?.indicator?.list == "lowl")
  }

  /// Through a macro two rules share, under `not`, and beside a regex operand (taken as holding).
  @Test func conjunctsHoldThroughMacrosNotAndRegexOperands() throws {
    let text = """
      \(Self.lists)
      - macro: {name: critical_ssh, condition: remote in crit and remote_port == 22}
      - rule: {id: T-A, name: a, severity: medium, events: [net_flow_tcp_begin],
          condition: remote in lowl or critical_ssh}
      - rule: {id: T-B, name: b, severity: medium, events: [net_flow_tcp_begin],
          condition: critical_ssh or remote in lowl}
      - rule: {id: T-C, name: c, severity: medium, events: [net_flow_tcp_begin],
          condition: remote in lowl or (remote in crit and not remote_port == 443)}
      - rule: {id: T-D, name: d, severity: medium, events: [net_flow_tcp_begin],
          condition: "remote in lowl or (remote in crit and remote_dns matches 'nomatch')"}
      """
    let rules = try RuleLoader.load(text: text, file: "conjuncts.yaml")
    let https = Self.alerts(rules, [Self.connection(to: "5.5.5.5")])
    #expect(
      Dictionary(uniqueKeysWithValues: https.map { ($0.ruleID, $0.indicator?.list) }) == [
        "T-A": "lowl", "T-B": "lowl", "T-C": "lowl", "T-D": "crit",
      ])
    let ssh = Self.alerts(rules, [RuleIntelListTests.connection(to: "5.5.5.5", port: 22)])
    #expect(ssh.filter { $0.ruleID != "T-D" }.allSatisfy { $0.indicator?.list == "crit" }, "\(ssh)")
  }

  /// The suppression key is the indicator the alert names: an event the critical list names is not
  /// folded into the low list's alert for its block, and a repeat of it is.
  @Test func suppressionByIndicatorKeysOnTheReportedIndicator() throws {
    let rules = try Self.rules(
      "remote in lowl or remote in crit", suppress: "{window: 1h, by: [indicator]}")
    let alerts = Self.alerts(
      rules,
      [
        Self.connection(to: "5.5.5.9", at: 0), Self.connection(to: "5.5.5.5", at: 1),
        Self.connection(to: "5.5.5.5", at: 2), Self.connection(to: "5.5.5.10", at: 3),
      ])
    #expect(alerts.map(\.severity) == [.low, .critical])
    #expect(alerts.map { $0.indicator?.indicator } == ["5.5.5.0/24", "5.5.5.5/32"])
    let terms = rules.rules[0].intelTerms
    for address in ["5.5.5.5", "5.5.5.9", "6.6.6.6", "7.7.7.7"] {
      let fields = EventFields(Self.connection(to: address))
      #expect(
        IntelTerm.firstIndicator(terms, fields, ruleSeverity: .medium)
          == IntelTerm.firstMatch(terms, fields, ruleSeverity: .medium)?.match.indicator, "\(address)")
    }
  }
}

import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// `output:` as a mapping from event name (or `default`) to text: an alert of a rule over several
/// kinds of event says what its own event has, not `-` for the fields of the others.
@Suite struct PerEventOutputTests {
  static func rules(events: String = "[net_flow_tcp_begin, net_flow_tcp_end, net_packet_dns]", output: String)
    throws -> RuleSet
  {
    try RuleLoader.load(
      text: """
        - rule:
            id: T-OUT
            name: per event
            events: \(events)
            condition: remote == 203.0.113.9 or dns.questions in (c2.example)
            output:\(output)
        """, file: "out.yaml")
  }

  static let connection = SensorEvent.flow(
    FlowEvent(
      name: .netFlowTCPBegin, timestamp: 1, direction: .outgoing,
      source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("203.0.113.9")!, 443),
      process: ProcessIdentity(pid: 7, uid: 0, command: "curl")))

  static let refused = SensorEvent.flow(
    FlowEvent(
      name: .netFlowTCPEnd, timestamp: 1, direction: .outgoing, source: Endpoint(IPAddress("203.0.113.9")!, 443),
      destination: Endpoint(IPAddress("198.51.100.2")!, 40_001), closeReason: .refused, terminatedBy: .remote,
      process: ProcessIdentity(pid: 8, uid: 0, command: "wget")))

  static func lookup(_ name: String = "c2.example", answers: [String] = ["192.0.2.254"]) -> SensorEvent {
    .dns(
      DNSEvent(
        timestamp: 1, source: Endpoint(IPAddress("198.51.100.53")!, 53),
        destination: Endpoint(IPAddress("198.51.100.2")!, 40_002), transport: .udp, cgroupID: 0, id: 1,
        responseCode: 0, questions: [name],
        answers: answers.map { .init(name: name, type: "A", timeToLive: 60, data: $0) }, truncated: false))
  }

  /// Each event in a fresh engine, so that no suppression folds one into another.
  static func messages(_ rules: RuleSet, _ events: [SensorEvent], rule: String = "T-OUT") -> [String] {
    events.map { event in
      let engine = RuleEngine(rules: rules)
      var alerts: [Alert] = []
      engine.process(event, at: 1, into: &alerts)
      return alerts.filter { $0.ruleID == rule }.map(\.message).joined(separator: " | ")
    }
  }

  static func diagnostics(_ output: String, events: String = "[net_flow_tcp_begin, net_flow_tcp_end, net_packet_dns]")
    -> [Diagnostic]
  {
    do {
      _ = try rules(events: events, output: output)
      return []
    } catch let error as RuleLoadError {
      return error.diagnostics
    } catch {
      return []
    }
  }

  @Test func eachEventTakesItsOwnText() throws {
    let rules = try Self.rules(
      output: """

              net_flow_tcp_begin: "{process.comm} connected to {remote}:{remote_port}"
              net_flow_tcp_end: "{process.comm} refused by {remote} ({close_reason})"
              net_packet_dns: "lookup of {dns.questions} answered {dns.answers}"
        """)
    #expect(
      Self.messages(rules, [Self.connection, Self.refused, Self.lookup()]) == [
        "curl connected to 203.0.113.9:443", "wget refused by 203.0.113.9 (refused)",
        "lookup of c2.example answered 192.0.2.254",
      ])
  }

  @Test func defaultServesTheEventsWithoutTheirOwn() throws {
    let rules = try Self.rules(
      output: """

              net_packet_dns: "lookup of {dns.questions}"
              default: "{event} of {process.comm} with {remote}"
        """)
    #expect(
      Self.messages(rules, [Self.connection, Self.refused, Self.lookup()]) == [
        "net_flow_tcp_begin of curl with 203.0.113.9", "net_flow_tcp_end of wget with 203.0.113.9",
        "lookup of c2.example",
      ])
    #expect(rules.warnings.isEmpty)
  }

  @Test func aPlainTextServesEveryEventAsBefore() throws {
    let rules = try Self.rules(output: #" "{process.comm} {remote} {dns.questions}""#)
    #expect(
      Self.messages(rules, [Self.connection, Self.lookup()]) == ["curl 203.0.113.9 -", "- - c2.example"])
  }

  /// A threshold alert shows the fields of the event that completed it: that event picks the text.
  @Test func aThresholdTakesTheTextOfTheEventThatRaisedIt() throws {
    let rules = try RuleLoader.load(
      text: """
        - rule:
            id: T-OUT
            name: threshold
            events: [net_flow_tcp_begin, net_flow_tcp_end]
            condition: remote == 203.0.113.9
            threshold: {count: 2, window: 1m}
            suppress: {window: 1m, by: [event]}
            output:
              net_flow_tcp_begin: "{count}, the last a connection of {process.comm}"
              net_flow_tcp_end: "{count}, the last {close_reason}"
        """, file: "out.yaml")
    let engine = RuleEngine(rules: rules)
    var alerts: [Alert] = []
    engine.process(Self.connection, at: 1, into: &alerts)
    engine.process(Self.refused, at: 2, into: &alerts)
    engine.process(Self.refused, at: 3, into: &alerts)
    engine.process(Self.connection, at: 4, into: &alerts)
    #expect(alerts.map(\.message) == ["2, the last refused", "2, the last a connection of curl"])
  }

  @Test func aKeyThatIsNoEventOfTheRuleIsAnErrorAtTheKeyWithAHint() {
    let typo = Self.diagnostics(
      """

            net_flow_tcp_edn: "x"
            default: "y"
      """)
    #expect(typo.map { [$0.line, $0.column] } == [[7, 7]], "\(typo)")
    #expect(
      typo.first?.message
        == "'net_flow_tcp_edn' in output is not an event name; did you mean 'net_flow_tcp_end'? "
        + "(its events: net_flow_tcp_begin, net_flow_tcp_end, net_packet_dns; or default)")
    // A real event, but not one of the rule's: no output could ever use it.
    let other = Self.diagnostics(
      """

            net_flow_tcp_update: "x"
            default: "y"
      """)
    #expect(other.map { [$0.line, $0.column] } == [[7, 7]], "\(other)")
    #expect(
      other.first?.message.hasPrefix("'net_flow_tcp_update' in output is an event this rule does not take") == true)
    // `events: [flows]` selects two events, and each is its own key.
    let set = Self.diagnostics(
      """

            flows: "x"
            net_packet_dns: "y"
      """, events: "[flows, net_packet_dns]")
    #expect(
      set.map(\.message).last
        == "'flows' in output is a set of events, where a key is one event "
        + "(its events: net_flow_tcp_begin, net_flow_tcp_end, net_packet_dns; or default)", "\(set)")
    let misspeltDefault = Self.diagnostics(
      """

            net_packet_dns: "x"
            defualt: "y"
      """, events: "[net_packet_dns]")
    #expect(misspeltDefault.first?.message.contains("did you mean 'default'?") == true, "\(misspeltDefault)")
  }

  @Test func anEventLeftWithoutATextIsAnErrorAtOutput() {
    let left = Self.diagnostics(
      """

            net_flow_tcp_begin: "x"
      """)
    #expect(left.map { [$0.line, $0.column] } == [[6, 5]], "\(left)")
    #expect(
      left.first?.message
        == "'output' has no text for net_flow_tcp_end, net_packet_dns (add them or 'default')")
    let one = Self.diagnostics(
      """

            net_flow_tcp_begin: "x"
            net_packet_dns: "y"
      """)
    #expect(one.map(\.message) == ["'output' has no text for net_flow_tcp_end (add it or 'default')"])
  }

  @Test func anEmptyMappingOrAListIsAnError() {
    let empty = Self.diagnostics(" {}")
    #expect(empty.map { [$0.line, $0.column] } == [[6, 5]], "\(empty)")
    #expect(
      empty.map(\.message) == ["'output' maps no event to a text (give a text, or event names and 'default')"])
    let list = Self.diagnostics(" [x, y]")
    #expect(list.map { [$0.line, $0.column] } == [[6, 13]], "\(list)")
    #expect(list.map(\.message) == ["'output' takes a text, or event names and 'default' mapped to texts"])
    let nested = Self.diagnostics(
      """

            default: {a: b}
      """)
    #expect(nested.map { [$0.line, $0.column] } == [[7, 16]], "\(nested)")
    #expect(nested.map(\.message) == ["output for 'default' must be a text"])
  }

  /// Each text is checked as a plain one is, at its own position.
  @Test func eachTextIsCheckedWhereItIs() {
    let unknown = Self.diagnostics(
      """

            net_packet_dns: "lookup of {dns.question}"
            default: "{remote"
      """)
    #expect(unknown.map { [$0.line, $0.column] } == [[7, 23], [8, 16]], "\(unknown)")
    #expect(unknown.first?.message.hasPrefix("unknown placeholder '{dns.question}' in output") == true)
    #expect(unknown.last?.message == "unclosed '{' in output")
    let control = Self.diagnostics(
      """

            default: "a \\u0007 b"
      """)
    #expect(control.map(\.message) == ["'output' contains a control character, U+7 at character 3"])
  }

  @Test func aDefaultNoEventUsesIsAWarning() throws {
    let rules = try Self.rules(
      events: "[net_packet_dns]",
      output: """

              net_packet_dns: "x"
              default: "y"
        """)
    #expect(
      rules.warnings.map { "\($0.line):\($0.column) \($0.message)" } == [
        "6:5 'default' in output is used by none of the rule's events (each has its own)"
      ])
  }

  /// A placeholder of a field some event the text serves never holds (a lookup has no process, a
  /// connection no questions) is a warning at that text, naming the field and the events.
  @Test func aFieldAnEventNeverHasIsAWarningAtItsText() throws {
    let plain = try Self.rules(output: " \"{process.comm} asked {dns.questions}\"")
    let warning = try #require(plain.warnings.first { $0.message.contains("prints '-'") }, "\(plain.warnings)")
    #expect((warning.line, warning.column) == (6, 13), "\(warning)")
    #expect(
      warning.message
        == "output prints '-' for a field an event never has: '{process.comm}' on net_packet_dns; "
        + "'{dns.questions}' on net_flow_tcp_begin, net_flow_tcp_end "
        + "(map each event to its own text: output: {EVENT: TEXT, default: TEXT})")
    let keyed = try Self.rules(
      output: """

              net_packet_dns: "lookup of {dns.questions} by {process.pid}"
              default: "{process.comm} with {remote} {dns.answered}"
        """)
    let said = keyed.warnings.filter { $0.message.contains("prints '-'") }.map {
      "\($0.line):\($0.column) \($0.message)"
    }
    #expect(
      said == [
        "7:23 output prints '-' for a field an event never has: '{process.pid}' on net_packet_dns "
          + "(leave it out of this text)",
        "8:16 output prints '-' for a field an event never has: '{dns.answered}' on net_flow_tcp_begin, "
          + "net_flow_tcp_end (give those events a text of their own)",
      ], "\(keyed.warnings)")
    // A text whose fields its events all hold warns of nothing; nor does one over flows alone.
    let fitting = try Self.rules(
      output: """

              net_packet_dns: "lookup of {dns.questions} answered {dns.answers}"
              default: "{process.comm} with {remote}:{remote_port}"
        """)
    #expect(!fitting.warnings.contains { $0.message.contains("prints '-'") }, "\(fitting.warnings)")
    let flows = try Self.rules(events: "[net_flow_tcp_begin, net_flow_tcp_end]", output: " \"{process.comm} {remote}\"")
    #expect(!flows.warnings.contains { $0.message.contains("prints '-'") }, "\(flows.warnings)")
  }

  /// `{remote}:{remote_port}` writes an IPv6 peer in brackets (`[2001:db8::9]:443`), as the shipped
  /// rules' texts print it; an address alone, or not before a port, stays as it is.
  @Test func anIPv6AddressBeforeItsPortIsBracketed() throws {
    let rules = try RuleLoader.load(
      text: """
        - rule:
            id: T-V6
            name: v6
            events: [net_flow_tcp_begin]
            condition: dst_port == 443
            output: "{remote}:{remote_port} {remote} {src}:{dst} {local}: {dst}:{dst_port}"
        """, file: "v6.yaml")
    func message(_ remote: String) -> String {
      let event = SensorEvent.flow(
        FlowEvent(
          name: .netFlowTCPBegin, timestamp: 1, direction: .outgoing, source: Endpoint(IPAddress("::1")!, 40_000),
          destination: Endpoint(IPAddress(remote)!, 443)))
      return Self.messages(rules, [event], rule: "T-V6").first ?? ""
    }
    #expect(message("2001:db8::9") == "[2001:db8::9]:443 2001:db8::9 ::1:2001:db8::9 ::1: [2001:db8::9]:443")
    #expect(message("::ffff:203.0.113.9").hasPrefix("[::ffff:203.0.113.9]:443 "))
    #expect(message("203.0.113.9").hasPrefix("203.0.113.9:443 203.0.113.9 ::1:203.0.113.9"))
  }
}

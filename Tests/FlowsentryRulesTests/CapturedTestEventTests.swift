import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// Rule test events carry DNS names as capture would deliver them, and a key their kind does not
/// have is an error.
@Suite struct CapturedTestEventTests {
  private func run(_ condition: String, _ event: String) throws -> Bool {
    let rules = try RuleLoader.load(
      text: """
        - rule:
            id: T-1
            name: t
            events: [net_flow_tcp_begin, net_packet_dns]
            condition: \(condition)
            output: x
            tests:
              - {name: t, events: [\(event)], expect: 1}
        """, file: "t.yaml")
    return RuleTestRunner.run(rules).allSatisfy(\.passed)
  }

  @Test func namesReadAsCaptureDeliversThem() throws {
    let begin = "{event: net_flow_tcp_begin, dst_dns: [www.EvilCorp.COM.]}"
    #expect(try run("remote_dns == 'www.evilcorp.com'", begin))
    #expect(try !run("remote_dns iendswith 'x.org'", begin))
    let dns = #"{event: net_packet_dns, questions: ['Café.Example'], answers: ['Alias.Example', 192.0.2.1]}"#
    #expect(try run(#"dns.questions == 'caf\195\169.example'"#, dns))
    #expect(try run("dns.answers == 'alias.example'", dns))
    #expect(try run("dns.answers == '192.0.2.1'", dns))
    #expect(
      try run(
        "dns.answers == '2001:db8::1'", "{event: net_packet_dns, questions: [a.example], answers: ['2001:DB8:0::1']}"))
    #expect(
      try run(
        #"dns.questions == 'caf\195\169.example'"#, #"{event: net_packet_dns, questions: ['caf\195\169.Example']}"#))
  }

  @Test func aKeyOfAnotherKindIsAnErrorAtTheKey() {
    do {
      _ = try run("remote_dns == 'a.example'", "{event: net_flow_tcp_begin, questions: [a.example]}")
      Issue.record("loaded")
    } catch let error as RuleLoadError {
      let diagnostic = error.diagnostics.first { $0.message.contains("'questions'") }
      #expect(diagnostic?.message.contains("not a field of net_flow_tcp_begin") == true, "\(error)")
      #expect(diagnostic?.message.contains("src_dns") == true && diagnostic?.line == 8)
    } catch { Issue.record("\(error)") }
  }

  /// Half-open reports are named from the DNS cache as other flow events are: a test may name them.
  @Test func aHalfOpenTestEventCarriesItsPeersNames() throws {
    let rules = try RuleLoader.load(
      text: """
        - rule:
            id: T-HALF
            name: t
            events: [net_flow_tcp_half_open]
            condition: remote_dns iendswith '.example'
            output: x
            tests:
              - {name: named, events: [{event: net_flow_tcp_half_open, src: 203.0.113.9, src_dns: [Scanner.EXAMPLE], attempts: 3}], expect: 1}
              - {name: unnamed, events: [{event: net_flow_tcp_half_open, src: 203.0.113.9, attempts: 3}], expect: 0}
        """, file: "t.yaml")
    let results = RuleTestRunner.run(rules)
    #expect(results.count == 2 && results.allSatisfy(\.passed), "\(results)")
  }

  /// docs/PATTERNS.md: `i…` folds ASCII only on both sides, so `É` matches itself outside name fields.
  @Test func icontainsOfANonASCIICapitalMatchesItselfOnProcessComm() throws {
    let event = { (comm: String) in "{event: net_flow_tcp_begin, process: {comm: '\(comm)'}}" }
    #expect(try run("process.comm icontains 'É'", event("xÉy.org")))
    #expect(try !run("process.comm icontains 'É'", event("xéy.org")))
    #expect(try run("process.comm icontains 'x'", event("XÉy.org")))
  }

  @Test func capturedFormMatchesTheParsers() {
    #expect(DNSNameText.captured(#"caf\195\169.Example.COM."#) == #"caf\195\169.example.com"#)
    #expect(DNSNameText.captured("café.example") == #"caf\195\169.example"#)
    #expect(DNSNameText.captured(#"a\.b.c"#) == #"a\046b.c"#)
    #expect(DNSNameText.captured("x y") == #"x\032y"#)
  }
}

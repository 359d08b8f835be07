import FlowsentryCore
import FlowsentryTestSupport
import Foundation
import Testing

@testable import FlowsentryRules

func flowEnd(
  at seconds: Double, remote: String = "203.0.113.9", remotePort: UInt16 = 443, reason: CloseReason = .rst,
  direction: ConnectionDirection = .outgoing, names: [String] = []
) -> SensorEvent {
  let local = Endpoint(IPAddress("198.51.100.2")!, 40_000)
  let peer = Endpoint(IPAddress(remote)!, remotePort)
  return .flow(
    FlowEvent(
      name: .netFlowTCPEnd, timestamp: Int64(seconds * 1e9), direction: direction, source: peer, destination: local,
      sourceNames: names, closeReason: reason, terminatedBy: .remote))
}

@Suite struct ShippedRulesetTests {
  /// The binary's built-in rules are rules/ as it is: `make embed-rules` after editing it.
  @Test func builtInRulesAreTheRulesDirectory() throws {
    let directory = URL(fileURLWithPath: shippedRules)
    let names = try FileManager.default.contentsOfDirectory(atPath: shippedRules).filter { $0.hasSuffix(".yaml") }
      .sorted()
    #expect(RuleLoader.builtInRules.map(\.name) == names.map { "built-in/" + $0 })
    for (source, name) in zip(RuleLoader.builtInRules, names) {
      let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
      #expect(source.text == text, "built-in/\(name) differs from rules/\(name): run `make embed-rules`")
    }
  }

  @Test func theChainLoadsBuiltInsThenUserFilesThatOverrideThem() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-chain-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let override = directory.appendingPathComponent("local.yaml")
    try "- rule: {id: FS-NET-007, enabled: false}\n".write(to: override, atomically: true, encoding: .utf8)
    let chain = try RuleLoader.loadChain(systemDirectory: nil, paths: [override.path])
    #expect(chain.rules.count == 21 && chain.rules.allSatisfy { $0.origin.hasPrefix("built-in/") })
    #expect(chain.rules.first { $0.id == "FS-NET-007" }?.enabled == false)
    // Without the built-ins, the override has nothing to disable: an error, with its position.
    #expect(throws: RuleLoadError.self) {
      try RuleLoader.loadChain(builtIn: false, systemDirectory: nil, paths: [override.path])
    }
    // A system directory is loaded between the two when it exists.
    let system = directory.appendingPathComponent("rules.d")
    try FileManager.default.createDirectory(at: system, withIntermediateDirectories: true)
    try "- list: {name: allowed_inbound_ports, items: [5900]}\n".write(
      to: system.appendingPathComponent("10-site.yaml"), atomically: true, encoding: .utf8)
    let withSystem = try RuleLoader.loadChain(systemDirectory: system.path, paths: [override.path])
    #expect(withSystem.files == RuleLoader.builtInRules.map(\.name) + [system.path + "/10-site.yaml", override.path])
  }

  @Test func loadsWithoutErrorsOrWarnings() throws {
    let rules = try RuleLoader.load(paths: [shippedRules])
    #expect(rules.rules.count >= 11)
    #expect(rules.warnings.isEmpty, "\(rules.warnings)")
    for rule in rules.rules {
      #expect(!rule.description.isEmpty, "\(rule.id) has no description")
      #expect(!rule.references.isEmpty, "\(rule.id) has no references")
      #expect(!rule.tags.isEmpty, "\(rule.id) has no ATT&CK tags")
      #expect(rule.tests.contains { $0.expectedAlerts > 0 }, "\(rule.id) has no test that fires")
      #expect(rule.tests.contains { $0.expectedAlerts == 0 }, "\(rule.id) has no test that stays quiet")
    }
  }

  /// The tests that list events; those that replay a capture run in FlowsentryReplayTests, and here
  /// they say that they need replay rather than pass or fail silently.
  @Test func everyInlineTestPasses() throws {
    let results = RuleTestRunner.run(try RuleLoader.load(paths: [shippedRules]))
    #expect(!results.isEmpty)
    for result in results where !result.passed && result.error?.contains("needs replay") != true {
      Issue.record("\(result.ruleID) \(result.test): expected \(result.expected), raised \(result.raised)")
    }
    #expect(results.filter { $0.error?.contains("needs replay") == true }.count == 3)
  }
}

@Suite struct RuleDiagnosticsTests {
  /// The first error's position and message for a rule file.
  func firstError(_ text: String) -> Diagnostic? {
    do {
      _ = try RuleLoader.load(text: text, file: "t.yaml")
      return nil
    } catch {
      return error.diagnostics.first { $0.severity == .error }
    }
  }

  func rule(_ condition: String, extra: String = "") -> String {
    "- rule:\n    id: T-1\n    name: test\n    condition: \(condition)\n\(extra)"
  }

  @Test func yamlErrorsArePositioned() throws {
    let error = try #require(firstError("- rule:\n    id: [oops\n"))
    #expect(error.message.hasPrefix("YAML:") && error.line >= 2)
  }

  @Test func unknownFieldsPointAtTheField() throws {
    let error = try #require(firstError(rule("dst_port == 1 and dts == 10.0.0.1")))
    #expect(error.line == 4 && error.column == 34)
    #expect(error.message.contains("unknown field 'dts'") && error.message.contains("did you mean 'dst'"))
    #expect(error.description.contains("t.yaml:4:34: error:"))
    #expect(error.description.hasSuffix("\n" + String(repeating: " ", count: 33) + "^"))
  }

  @Test func unknownKeysSuggestTheRightOne() throws {
    let error = try #require(firstError(rule("dst_port == 1", extra: "    severty: high\n")))
    #expect(error.line == 5 && error.column == 5 && error.message.contains("did you mean 'severity'"))
  }

  @Test func badRegexesPointIntoThePattern() throws {
    let error = try #require(firstError(rule("remote_dns matches 'ab[c'")))
    #expect(error.line == 4 && error.column > 35 && error.message.contains("bad regular expression"))
  }

  @Test func undefinedMacrosAndLists() throws {
    #expect(try #require(firstError(rule("nonsense_macro"))).message.contains("undefined macro 'nonsense_macro'"))
    #expect(try #require(firstError(rule("dst_port in some_ports"))).message.contains("undefined list 'some_ports'"))
    let loop = "- macro:\n    name: a\n    condition: b\n- macro:\n    name: b\n    condition: a\n" + rule("a")
    #expect(try #require(firstError(loop)).message.contains("refers to itself"))
  }

  @Test func typeMismatches() throws {
    #expect(try #require(firstError(rule("dst_port == 'http'"))).message.contains("is an integer"))
    #expect(try #require(firstError(rule("src == not-an-ip"))).message.contains("is an address"))
    #expect(try #require(firstError(rule("src contains '10.'"))).message.contains("does not apply to addresses"))
    #expect(try #require(firstError(rule("close_reason > 3"))).message.contains("compares numbers"))
    #expect(try #require(firstError(rule("dst_port in (1, x-2)"))).message.contains("not a number or a range"))
  }

  @Test func syntaxErrors() throws {
    let error = try #require(firstError(rule("(dst_port == 1")))
    #expect(error.message.contains("expected ')'") && error.column == 30)  // just past the end
    #expect(try #require(firstError(rule("dst_port = 1"))).message.contains("'=' must be followed by '='"))
  }

  @Test func foldedConditionsArePositionedOnTheirOwnLine() throws {
    let text = "- rule:\n    id: T-1\n    name: t\n    condition: >\n      dst_port == 1 and\n      bogus == 2\n"
    let error = try #require(firstError(text))
    #expect(error.line == 6 && error.column == 7)
  }

  @Test func everyErrorIsReportedAtOnce() {
    do {
      _ = try RuleLoader.load(text: rule("bad1 == 1") + rule("bad2 == 2").replacingOccurrences(of: "T-1", with: "T-2"))
      Issue.record("rules with two unknown fields loaded")
    } catch {
      #expect(error.diagnostics.filter { $0.severity == .error }.count == 2)
    }
  }

  @Test func hostileNumbersAndCIDRsAreDiagnosedWithPositions() throws {
    let window = try #require(
      firstError(
        "- rule:\n    id: T-1\n    name: t\n    condition: dst_port == 1\n    threshold: {count: 2, window: 99999999999h}\n"
      ))
    #expect(window.line == 5 && window.message.contains("a duration is"))
    let empty = try #require(firstError(rule("remote in (\"\")")))
    #expect(empty.line == 4 && empty.message.contains("is not an address or a CIDR block"))
    for bad in ["10.0.0.0/", "/8", "10.0.0.0/33", "::1/129", "10.0.0.0/8/8", "10.0.0.0/-1"] {
      let error = try #require(firstError(rule("remote in (\"\(bad)\")")), "\(bad) was accepted")
      #expect(error.message.contains("is not an address or a CIDR block"), "\(bad): \(error.message)")
    }
    let suppress = try #require(
      firstError(
        "- rule:\n    id: T-1\n    name: t\n    condition: dst_port == 1\n    suppress: {window: 9223372036854775807ms}\n"
      ))
    #expect(suppress.line == 5)
    // Positive control: the largest window allowed loads.
    _ = try RuleLoader.load(
      text: "- rule:\n    id: T-1\n    name: t\n    condition: dst_port == 1\n    threshold: {count: 2, window: 31d}\n")
  }

  @Test func captureTestsAreCheckedWithPositions() throws {
    func test(_ body: String) -> String {
      rule("dst_port == 1", extra: "    tests:\n      - name: t\n" + body + "        expect: 1\n")
    }
    let both = try #require(
      firstError(test("        capture: x.pcap\n        events: [{event: net_flow_tcp_begin}]\n")))
    #expect(both.line == 6 && both.message.contains("not both"))
    let stray = try #require(firstError(test("        local: [10.0.0.0/8]\n")))
    #expect(stray.line == 7 && stray.message.contains("'local' goes with 'capture'"))
    let network = try #require(firstError(test("        capture: x.pcap\n        local: [10.0.0.0/8, 10.0.0.0/]\n")))
    #expect(network.line == 8 && network.message.contains("not an address or a CIDR block"))
    // Positive control, and the path resolved against the rule file's directory.
    let rules = try RuleLoader.load(
      text: test("        capture: captures/x.pcap\n        local: [10.0.0.0/8]\n"), file: "/etc/r/a.yaml")
    #expect(rules.rules.first?.tests.first?.capture?.path == "/etc/r/captures/x.pcap")
    #expect(rules.rules.first?.tests.first?.capture?.localNetworks == [IPNetwork("10.0.0.0/8")!])
  }

  @Test func unusedListsAndMacrosWarn() throws {
    let text =
      "- list:\n    name: spare\n    items: [1]\n- macro:\n    name: idle\n    condition: dst_port == 1\n"
      + rule("dst_port == 2")
    let rules = try RuleLoader.load(text: text)
    #expect(rules.warnings.map(\.message).sorted() == ["list 'spare' is not used", "macro 'idle' is not used"])
  }
}

@Suite struct RuleEvaluationTests {
  func engine(_ text: String) throws -> RuleEngine {
    RuleEngine(rules: try RuleLoader.load(text: text))
  }

  func run(_ engine: RuleEngine, _ events: [SensorEvent]) -> [Alert] {
    var alerts: [Alert] = []
    for event in events { engine.process(event, at: event.timestamp, into: &alerts) }
    return alerts
  }

  @Test func cidrBlocksForBothFamilies() throws {
    #expect(IPNetwork("10.0.0.0/8")!.contains(IPAddress("10.200.1.1")!))
    #expect(!IPNetwork("10.0.0.0/8")!.contains(IPAddress("11.0.0.1")!))
    #expect(IPNetwork("2001:db8::/32")!.contains(IPAddress("2001:db8:ffff::1")!))
    #expect(!IPNetwork("2001:db8::/32")!.contains(IPAddress("2001:db9::1")!))
    #expect(IPNetwork("fe80::1/128")!.contains(IPAddress("fe80::1")!))
    #expect(!IPNetwork("0.0.0.0/0")!.contains(IPAddress("::1")!))
    #expect(IPNetwork("10.0.0.0/33") == nil)
  }

  @Test func stringListsUseAnyElement() throws {
    let engine = try engine(
      "- rule:\n    id: T\n    name: t\n    events: [net_flow_tcp_end]\n    condition: src_dns iendswith ('.evil.test')\n"
    )
    #expect(run(engine, [flowEnd(at: 0, names: ["a.good.test", "B.Evil.TEST"])]).count == 1)
    #expect(run(engine, [flowEnd(at: 1, names: ["a.good.test"])]).isEmpty)
    #expect(run(engine, [flowEnd(at: 2)]).isEmpty)
  }

  @Test func exceptionsExemptWhatTheyMatchAndOnlyThat() throws {
    let engine = try engine(
      """
      - rule:
          id: T
          name: t
          events: [net_flow_tcp_end]
          condition: close_reason == rst
          exceptions:
            - remote in (203.0.113.0/28)
            - name: monitoring
              condition: remote_port == 9100
      """)
    // Each exception alone exempts; an event neither matches alerts; the condition still decides.
    #expect(run(engine, [flowEnd(at: 0, remote: "203.0.113.9")]).isEmpty)
    #expect(run(engine, [flowEnd(at: 1, remote: "198.51.100.77", remotePort: 9100)]).isEmpty)
    #expect(run(engine, [flowEnd(at: 2, remote: "198.51.100.77")]).count == 1)
    #expect(run(engine, [flowEnd(at: 3, remote: "198.51.100.77", reason: .fin)]).isEmpty)
  }

  @Test func thresholdsFireOncePerWindowAndCarryTheirEvents() throws {
    let engine = try engine(
      """
      - rule:
          id: T
          name: t
          events: [net_flow_tcp_end]
          condition: close_reason == rst
          threshold: {count: 5, window: 10s, group_by: [remote]}
          suppress: {window: 1ms}
          output: "{count} from {remote} in {window}"
      """)
    let storm = (0..<30).map { flowEnd(at: Double($0) * 0.1) }
    let alerts = run(engine, storm)
    #expect(alerts.count == 6)  // 30 events, 5 per window
    let first = try #require(alerts.first)
    #expect(first.count == 5 && first.events.count == 5 && first.message == "5 from 203.0.113.9 in 10s")
    #expect(first.group.map(\.field) == ["remote"] && first.group.map(\.value) == ["203.0.113.9"])
    // Alert ids are the pipeline's (AlertIdentityTests): it knows the sensor they name.
  }

  @Test func suppressionFoldsAndCountsWhatItFolded() throws {
    let engine = try engine(
      "- rule:\n    id: T\n    name: t\n    events: [net_flow_tcp_end]\n    condition: close_reason == rst\n    suppress: {window: 60s, by: [remote]}\n"
    )
    let alerts = run(engine, (0..<10).map { flowEnd(at: Double($0)) } + [flowEnd(at: 100)])
    #expect(alerts.count == 2)
    #expect(alerts.last?.suppressed == 9)
    #expect(engine.counters.suppressed == 9)
  }

  @Test func groupStateIsBoundedAndEvictionsCounted() throws {
    var configuration = RuleEngine.Configuration()
    configuration.maximumGroupsPerRule = 100
    let engine = RuleEngine(
      rules: try RuleLoader.load(
        text:
          "- rule:\n    id: T\n    name: t\n    events: [net_flow_tcp_end]\n    condition: close_reason == rst\n    threshold: {count: 3, window: 60s, group_by: [remote]}\n"
      ), configuration: configuration)
    // 5000 spoofed sources, one event each: no alert, state capped.
    var alerts: [Alert] = []
    for index in 0..<5000 {
      let event = flowEnd(at: Double(index) * 0.001, remote: "203.0.\(113 + index / 256 % 2).\(index % 256)")
      engine.process(event, at: event.timestamp, into: &alerts)
    }
    #expect(alerts.isEmpty)
    #expect(engine.counters.groupEvictions >= 4900)
  }

  @Test func aRegexThatBacktracksWithoutEndStopsAtItsLimitAndIsCounted() throws {
    let engine = try engine(
      "- rule:\n    id: T-SLOW\n    name: t\n    events: [net_flow_tcp_begin]\n    condition: process.comm matches \"^(a+)+$\"\n"
    )
    func begin(_ command: String) -> SensorEvent {
      .flow(
        FlowEvent(
          name: .netFlowTCPBegin, timestamp: 0, direction: .outgoing, source: Endpoint(IPAddress("10.0.0.1")!, 1),
          destination: Endpoint(IPAddress("10.0.0.2")!, 2),
          process: ProcessIdentity(pid: 1, uid: 0, command: command)))
    }
    // Positive control: an ordinary subject matches, within the limits.
    #expect(run(engine, [begin("aaaa")]).count == 1)
    #expect(engine.regexLimitHits.isEmpty)
    // 2^40 ways to split the a's before the final '!': the match limit stops it, counted, no alert.
    #expect(run(engine, [begin(String(repeating: "a", count: 40) + "!")]).isEmpty)
    #expect(engine.regexLimitHits == ["T-SLOW": 1])

    // A reload (a new engine continuing this one) keeps the rule's counters, limit hits included;
    // a rule the new set does not have is gone, a new one starts at zero.
    let reloaded = RuleEngine(
      rules: try RuleLoader.load(
        text:
          "- rule:\n    id: T-SLOW\n    name: t\n    events: [net_flow_tcp_begin]\n    condition: process.comm matches \"^(a+)+$\"\n"
          + "- rule:\n    id: T-NEW\n    name: n\n    events: [net_flow_tcp_begin]\n    condition: process.comm == \"aaaa\"\n",
        file: "t.yaml"), continuing: engine)
    #expect(run(reloaded, [begin("aaaa")]).count == 2)
    #expect(
      reloaded.perRule == [
        RuleEngine.RuleCounters(ruleID: "T-SLOW", matches: 2, alerts: 2, suppressed: 0, regexLimitHits: 1),
        RuleEngine.RuleCounters(ruleID: "T-NEW", matches: 1, alerts: 1, suppressed: 0, regexLimitHits: 0),
      ])
    #expect(reloaded.counters.matches == 3 && reloaded.counters.events == 3)
  }

  @Test func distinctCountsValuesNotEvents() throws {
    let engine = try engine(
      "- rule:\n    id: T\n    name: t\n    events: [net_flow_tcp_end]\n    condition: close_reason == refused\n    threshold: {distinct: remote_port, count: 10, window: 60s, group_by: [remote]}\n"
    )
    #expect(run(engine, (0..<50).map { flowEnd(at: Double($0), remotePort: 80, reason: .refused) }).isEmpty)
    #expect(
      run(engine, (0..<10).map { flowEnd(at: 60 + Double($0), remotePort: UInt16(1000 + $0), reason: .refused) }).count
        == 1)
  }

  @Test func userFilesOverrideListsAndDisableRules() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-rules-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let override = directory.appendingPathComponent("local.yaml")
    try """
    - list: {name: allowed_inbound_ports, items: [5900]}
    - rule: {id: FS-NET-007, enabled: false}
    """.write(to: override, atomically: true, encoding: .utf8)
    let rules = try RuleLoader.load(paths: [shippedRules, override.path])
    #expect(rules.rules.first { $0.id == "FS-NET-007" }?.enabled == false)
    let vnc: SensorEvent = .flow(
      FlowEvent(
        name: .netFlowTCPBegin, timestamp: 0, direction: .incoming, source: Endpoint(IPAddress("203.0.113.7")!, 50_000),
        destination: Endpoint(IPAddress("198.51.100.2")!, 5900)))
    // Positive control: the shipped rules alone do alert on this connection.
    let shippedOnly = RuleEngine(rules: try RuleLoader.load(paths: [shippedRules]))
    #expect(run(shippedOnly, [vnc]).map(\.ruleID) == ["FS-NET-003"])
    #expect(run(RuleEngine(rules: rules), [vnc]).isEmpty)
  }
}

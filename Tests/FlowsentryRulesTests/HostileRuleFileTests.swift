import FlowsentryCore
import FlowsentryTestSupport
import Foundation
import Testing

@testable import FlowsentryRules

/// Rule files a careless operator or an attacker writes: each class of input that once trapped,
/// hung or was silently changed, now a positioned error (or, for event times, saturated).
@Suite struct HostileRuleFileTests {
  func errors(_ text: String) -> [Diagnostic] {
    do {
      let rules = try RuleLoader.load(text: text, file: "h.yaml")
      // What `rules test` does with a set that loads: it must not trap either.
      _ = RuleTestRunner.run(rules)
      return []
    } catch {
      return error.diagnostics.filter { $0.severity == .error }
    }
  }

  func rule(_ condition: String, id: String = "T-1", extra: String = "") -> String {
    "- rule:\n    id: \(id)\n    name: test\n    condition: \(condition)\n\(extra)"
  }

  /// A rule whose one test has one event, written on line 9 as a flow mapping.
  func withEvent(_ fields: String) -> String {
    rule(
      "dst_port >= 1",
      extra:
        "    tests:\n      - name: t\n        expect: 0\n        events:\n          - {event: net_flow_tcp_end, \(fields)}\n"
    )
  }

  // MARK: - Numbers in test events

  @Test(arguments: [
    ("process: {pid: -1}", "'pid' must be a whole number from 0 to 4294967295"),
    ("process: {uid: 4294967296}", "'uid' must be a whole number from 0 to 4294967295"),
    ("dst_port: 66979", "'dst_port' must be a whole number from 0 to 65535"),
    ("src_port: -1", "'src_port' must be a whole number"),
    ("dst_port: 99999999999999999999999", "'dst_port' must be a whole number"),
    ("dst_port: http", "'dst_port' must be a whole number"),
    ("attempts: -3", "'attempts' must be a whole number"),
    ("duration_ns: -1", "'duration_ns' must be a whole number"),
    ("repeat: 100001", "'repeat' must be a whole number from 1 to 100000"),
    ("repeat: 0", "'repeat' must be a whole number from 1 to 100000"),
    ("repeat: 100000, every: 31d", "'repeat' times 'every' goes past the largest time"),
    ("at: soon", "'at' is a duration"),
    ("every: -5s", "'every' is a duration"),
    ("repeat: 3, vary: {dst_port: 4611686018427387904}", "'dst_port' must be a whole number from -65535 to 65535"),
    ("repeat: 3, vary: {src: 4611686018427387904}", "'src' must be a whole number"),
    ("dst_port: 65535, repeat: 2, vary: {dst_port: 1}", "'vary' takes 'dst_port' out of its range"),
    ("src_port: 0, repeat: 2, vary: {src_port: -1}", "'vary' takes 'src_port' out of its range"),
    ("src: 255.255.255.255, repeat: 2, vary: {src: 1}", "'vary' takes 'src' out of its range"),
    ("src: '2001:db8::1', repeat: 2, vary: {src: 1}", "'vary' steps an IPv4 address"),
    ("vary: 3", "'vary' takes src, dst, src_port, dst_port or host"),
    ("process: 7", "'process' takes pid, uid and comm"),
    ("src: [1, 2]", "'src' takes a single value"),
  ])
  func outOfRangeTestEventNumbersArePositionedErrors(fields: String, message: String) throws {
    let found = errors(withEvent(fields))
    let error = try #require(found.first, "\(fields) was accepted")
    #expect(error.message.contains(message), "\(fields): \(error.message)")
    #expect(error.line == 9 && error.column > 13, "\(fields): \(error)")
  }

  @Test func testEventsAtTheEdgesOfTheirRangesLoadExactly() throws {
    let rules = try RuleLoader.load(
      text: withEvent(
        "src: 255.255.255.254, src_port: 65533, dst_port: 0, repeat: 3, every: 31d, at: 31d, "
          + "vary: {src_port: 1, dst_port: 2, src: -1}, process: {pid: 4294967295, uid: 4294967295}"))
    let events = try #require(rules.rules.first?.tests.first?.events)
    #expect(events.count == 3)
    guard case .flow(let last) = events[2].event else { throw TestFailure("not a flow") }
    #expect(last.source == Endpoint(IPAddress("255.255.255.252")!, 65535))
    #expect(last.destination.port == 4)
    #expect(last.process?.pid == UInt32.max && last.process?.uid == UInt32.max)
    #expect(events[2].at == 3 * 31 * 86_400_000_000_000)
  }

  @Test func generatedTestEventsAreBoundedPerTestAndPerLoad() throws {
    let event = "          - {event: net_flow_tcp_end, repeat: 60000}\n"
    let oneTest = rule(
      "dst_port >= 1", extra: "    tests:\n      - name: t\n        expect: 0\n        events:\n" + event + event)
    let error = try #require(errors(oneTest).first)
    #expect(error.message.contains("a test generates at most 100000 events") && error.line == 10)
    // Four rules of 60,000 events each stay within a test's limit but not within a load's.
    let single = "    tests:\n      - name: t\n        expect: 0\n        events:\n" + event
    let many = (1...4).map { rule("dst_port >= 1", id: "T-\($0)", extra: single) }.joined()
    #expect(errors(many).contains { $0.message.contains("the tests of all rule files generate at most") })
  }

  // MARK: - Event times in the engine

  @Test func thresholdsAndSuppressionSaturateAtTheEdgesOfTime() throws {
    let text = rule(
      "dst_port == 443",
      extra: "    threshold: {count: 2, window: 31d}\n    suppress: {window: 31d}\n")
    let engine = RuleEngine(rules: try RuleLoader.load(text: text))
    var alerts: [Alert] = []
    func event(_ time: Int64) -> SensorEvent {
      .flow(
        FlowEvent(
          name: .netFlowTCPEnd, timestamp: time, direction: .outgoing,
          source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("203.0.113.9")!, 443)))
    }
    // Near the earliest time the window would start before it (time - window); from the earliest
    // alert to the latest the gap overflows; back again, it is negative past Int64.min.
    for time: Int64 in [.min + 1, .min + 2, .max - 1, .max, .max, .max, .min + 3, .min + 4] {
      engine.process(event(time), at: time, into: &alerts)
    }
    // Fired at min+2; at max, long after: not suppressed; at max again and back at min+4: within
    // the suppression window (a gap that saturates at Int64.min is less than any window).
    #expect(alerts.map(\.timestamp) == [.min + 2, .max])
    #expect(engine.counters.suppressed == 2)
  }

  // MARK: - Nesting and expansion

  @Test func deeplyNestedConditionsAreRefusedWithTheirPosition() throws {
    let parentheses = String(repeating: "(", count: 5000) + "dst_port == 1" + String(repeating: ")", count: 5000)
    let deep = try #require(errors(rule("\"\(parentheses)\"")).first)
    #expect(deep.message.contains("nests deeper than 100") && deep.line == 4 && deep.column == 17 + 100)
    let nots = String(repeating: "not ", count: 5000) + "dst_port == 1"
    let negated = try #require(errors(rule(nots)).first)
    #expect(negated.message.contains("nests deeper than 100") && negated.column == 16 + 4 * 100)
    // Positive control: 100 levels load and evaluate.
    let hundred = String(repeating: "(", count: 100) + "dst_port == 1" + String(repeating: ")", count: 100)
    #expect(errors(rule("\"\(hundred)\"")).isEmpty)
    let even = String(repeating: "not ", count: 100) + "remote_port == 443"
    let engine = RuleEngine(rules: try RuleLoader.load(text: rule(even)))
    var alerts: [Alert] = []
    engine.process(flowEnd(at: 1, remotePort: 443), at: 1, into: &alerts)
    #expect(alerts.count == 1)
  }

  @Test func longFlatChainsAreBoundedAndEvaluateWithoutDeepRecursion() throws {
    let chain = (0..<4000).map { "remote_port == \($0 + 1)" }.joined(separator: " or ")
    let engine = RuleEngine(rules: try RuleLoader.load(text: rule(chain)))
    var alerts: [Alert] = []
    engine.process(flowEnd(at: 1, remotePort: 4000), at: 1, into: &alerts)
    engine.process(flowEnd(at: 2, remotePort: 4001), at: 2, into: &alerts)
    #expect(alerts.count == 1)
    let tooLong = (0..<6000).map { _ in "dst_port == 1" }.joined(separator: " or ")
    let error = try #require(errors(rule(tooLong)).first)
    #expect(error.message.contains("more than 10000 terms") && error.line == 4)
  }

  @Test func manyExceptionsShareTheBudgetAndEvaluateWithoutDeepRecursion() throws {
    func exceptions(_ count: Int) -> String {
      "    exceptions:\n" + (1...count).map { "      - remote_port == \($0)\n" }.joined()
    }
    let engine = RuleEngine(rules: try RuleLoader.load(text: rule("remote_port > 0", extra: exceptions(5000))))
    var alerts: [Alert] = []
    engine.process(flowEnd(at: 1, remotePort: 5000), at: 1, into: &alerts)
    engine.process(flowEnd(at: 2, remotePort: 5001), at: 2, into: &alerts)
    #expect(alerts.map(\.timestamp) == [2_000_000_000])
    let error = try #require(errors(rule("remote_port > 0", extra: exceptions(10_000))).first)
    #expect(error.message.contains("its exceptions expand to more than 10000") && error.line == 5 + 10_000)
  }

  @Test func thresholdCountsAreBounded() throws {
    let error = try #require(errors(rule("dst_port > 0", extra: "    threshold: {count: 100001, window: 1s}\n")).first)
    #expect(error.line == 5 && error.message.contains("from 1 to 100000"))
    #expect(errors(rule("dst_port > 0", extra: "    threshold: {count: 100000, window: 1s}\n")).isEmpty)
  }

  /// libyaml bounds nesting itself (yaml_set_max_nest_level, 1000 by default): deep YAML is a
  /// positioned YAML error before any Swift code recurses over it.
  @Test func deeplyNestedYAMLIsAPositionedError() throws {
    let depth = 100_000
    let text = "- rule:\n    id: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
    let error = try #require(errors(text).first)
    #expect(error.message.hasPrefix("YAML:") && error.message.contains("nesting") && error.line == 2)
  }

  /// macro_n uses macro_(n-1) twice: 2^24 terms once expanded.
  func doublingMacros(_ depth: Int) -> String {
    var text = "- macro:\n    name: m0\n    condition: remote_port == 443\n"
    for level in 1...depth {
      text += "- macro:\n    name: m\(level)\n    condition: m\(level - 1) and (m\(level - 1) or remote_port == 1)\n"
    }
    return text + rule("m\(depth)")
  }

  @Test func exponentialMacrosFailFastWithAClearError() throws {
    let clock = ContinuousClock()
    var found: [Diagnostic] = []
    let elapsed = clock.measure { found = errors(doublingMacros(24)) }
    #expect(elapsed < .milliseconds(500), "took \(elapsed)")
    let error = try #require(found.first)
    #expect(error.message.contains("more than 10000 terms"), "\(error.message)")
    #expect(error.line > 1)
  }

  @Test func moderateMacroNestingStillWorksAndIsCompiledOnce() throws {
    let rules = try RuleLoader.load(text: doublingMacros(6))
    #expect(rules.warnings.isEmpty)
    let engine = RuleEngine(rules: rules)
    var alerts: [Alert] = []
    engine.process(flowEnd(at: 1, remotePort: 443), at: 1, into: &alerts)
    engine.process(flowEnd(at: 2, remotePort: 1), at: 2, into: &alerts)
    #expect(alerts.count == 1)
    // A regex in a macro used by two rules is compiled once.
    let shared =
      "- macro:\n    name: odd\n    condition: process.comm matches 'x+y'\n"
      + rule("odd or odd") + rule("odd", id: "T-2")
    #expect(try RuleLoader.load(text: shared).regexCount == 1)
  }

  @Test func longMacroChainsAreBounded() throws {
    var text = "- macro:\n    name: m0\n    condition: dst_port == 443\n"
    for level in 1...500 { text += "- macro:\n    name: m\(level)\n    condition: m\(level - 1)\n" }
    let error = try #require(errors(text + rule("m500")).first)
    #expect(error.message.contains("macros use each other more than 100 deep"))
    // A macro the cut chain passed through still compiles where its own chain is short enough.
    let rules = try RuleLoader.load(text: text + rule("m60", id: "T-2"))
    #expect(rules.rules.count == 1 && rules.warnings.count == 440)
  }

  // MARK: - Values a condition compares with

  @Test(arguments: [
    "dst_port == 70000", "process.pid == -5", "dst_port in (1-99999999)", "dst_port in (22, 65536)",
    "local_port != -1", "dst_port < 70000", "dst_port > 65535", "dst_port >= 0", "process.uid <= -1",
    "duration_ns < 0",
  ])
  func comparisonsDecidedBeforeAnyEventArePositionedErrors(condition: String) throws {
    let error = try #require(errors(rule(condition)).first, "\(condition) was accepted")
    #expect(error.line == 4 && error.column > 16, "\(condition): \(error)")
    #expect(error.message.contains("outside the values") || error.message.contains("decided before any event"))
  }

  @Test func comparisonsAtTheEdgesOfAFieldLoad() throws {
    for condition in ["dst_port in (1-65535)", "dst_port > 0", "dst_port < 65535", "process.pid == 4294967295"] {
      #expect(errors(rule(condition)).isEmpty, "\(condition)")
    }
  }

  @Test func aFieldOfTheWrongTypeForATypedListIsNamedWithItsArticle() throws {
    let list = "- list: {name: c2, type: domain, items: [evil.example]}\n"
    let address = try #require(errors(list + rule("remote in c2")).first)
    #expect(address.line == 5 && address.message.hasSuffix("'remote' is an address"), "\(address)")
    let integer = try #require(errors(list + rule("dst_port in c2")).first)
    #expect(integer.message.hasSuffix("'dst_port' is an integer"), "\(integer)")
  }

  @Test func appendingToAListThatDoesNotExistIsAnError() throws {
    let error = try #require(errors("- list:\n    name: ports\n    append: true\n    items: [1]\n").first)
    #expect(error.line == 3 && error.message.contains("no list 'ports'"))
    let notBool = try #require(errors("- list:\n    name: ports\n    append: 3\n    items: [1]\n").first)
    #expect(notBool.line == 3 && notBool.message.contains("true or false"))
  }

  @Test(arguments: [
    ("id: \"T-\\x07\"", "'id' contains a control character"),
    ("id: T-1\n    name: \"alert\\nforged: line\"", "'name' contains a control character"),
    ("id: T-1\n    output: \"x \\u0085 y\"", "'output' contains a control character, U+85"),
    ("id: \"T-\u{FFFD}\"", "'id' contains U+FFFD"),
    ("id: T-1\n    tags: [ok, \"T1046\\r\"]", "'tags' contains a control character, U+D"),
    ("id: T-1\n    references: [\"https://x\\u001b[2J\"]", "'references' contains a control character, U+1B"),
  ])
  func unprintableIdsNamesAndOutputsAreRefused(fields: String, message: String) throws {
    let text =
      "- rule:\n    \(fields)\n    condition: dst_port == 1\n" + (fields.contains("name") ? "" : "    name: n\n")
    let error = try #require(errors(text).first, "\(fields) was accepted")
    #expect(error.message.contains(message) && error.line >= 2, "\(error)")
  }

  @Test func aFileThatIsNotUTF8IsRefusedAtTheBadByte() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-utf8-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("bad.yaml")
    try Data("- rule:\n    id: T-".utf8 + [0xC3, 0x28] + Data("\n".utf8)).write(to: file)
    do {
      _ = try RuleLoader.load(paths: [file.path])
      Issue.record("a file that is not UTF-8 loaded")
    } catch {
      let error = try #require(error.diagnostics.first)
      #expect(error.line == 2 && error.column == 11 && error.message.contains("not UTF-8"))
    }
  }

  // MARK: - Replacing rules

  @Test func aLaterFileReplacesARuleWithTheSameIdAndSaysSo() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-replace-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let first = directory.appendingPathComponent("a.yaml")
    let second = directory.appendingPathComponent("b.yaml")
    try (rule("remote_port == 1") + rule("remote_port == 2", id: "T-2")).write(
      to: first, atomically: true, encoding: .utf8)
    try ("\n" + rule("remote_port == 3")).write(to: second, atomically: true, encoding: .utf8)
    let rules = try RuleLoader.load(paths: [first.path, second.path])
    #expect(rules.rules.map(\.id) == ["T-1", "T-2"])
    #expect(rules.rules[0].origin == second.path)
    let replacement = try #require(rules.replacements.first)
    #expect(rules.replacements.count == 1 && rules.warnings.contains(replacement))
    #expect(replacement.file == second.path && replacement.line == 3)
    #expect(replacement.message == "rule 'T-1' replaces the one defined at \(first.path):2:5")
    let engine = RuleEngine(rules: rules)
    var alerts: [Alert] = []
    engine.process(flowEnd(at: 1, remotePort: 1), at: 1, into: &alerts)
    engine.process(flowEnd(at: 2, remotePort: 3), at: 2, into: &alerts)
    #expect(alerts.map(\.timestamp) == [2_000_000_000])
    // Within one file, the same id twice is still a mistake.
    let twice = try #require(errors(rule("dst_port == 1") + rule("dst_port == 2")).first)
    #expect(twice.line == 6 && twice.message.contains("duplicate rule id 'T-1' (first defined at h.yaml:2:5)"))
  }

  @Test func theShippedRulesLoadedAgainOverTheBuiltInOnesReplaceThem() throws {
    let rules = try RuleLoader.loadChain(systemDirectory: nil, paths: [shippedRules])
    #expect(rules.rules.count == 21 && rules.replacements.count == 21)
    #expect(rules.rules.allSatisfy { !$0.origin.hasPrefix("built-in/") })
    #expect(RuleTestRunner.run(rules).allSatisfy { $0.passed || $0.error != nil })
  }
}

struct TestFailure: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}

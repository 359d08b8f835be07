import FlowsentryCore
import FlowsentryPatterns
import Testing

@testable import FlowsentryRules

/// Regex rules through pattern sets and the rule index give exactly what PCRE2 alone gives: the
/// same alerts in the same order, the same matches per rule, the same limit hits per rule.
@Suite struct RegexRuleDifferentialTests {
  static let words = ["evil", "bad", "c2", "mail", "cdn", "www", "api", "Evil", "BAD", "kelvin", "Kelvin", "caf\u{E9}"]

  /// A pattern of one of the kinds rules use, Hyperscan-exact, confirmed, prefiltered or PCRE2's alone.
  static func pattern(_ random: inout SeededRandom) -> String {
    func word() -> String { words.randomElement(using: &random)! }
    let anchor = Bool.random(using: &random) ? "^" : ""
    switch Int.random(in: 0..<11, using: &random) {
    case 0: return anchor + "(?:\(word())|\(word()))\\.[a-z0-9-]{0,40}\\.(?:com|net)"
    case 1: return anchor + "[a-z0-9]{\(Int.random(in: 0...3, using: &random)),40}\\.\(word())\\."
    case 2: return anchor + "\(word())\\d{1,4}"
    case 3: return "\(word())\\.(?:com|net)$"
    case 4: return anchor + "(?=[a-z])\(word())"
    case 5: return "(?<!www\\.)\(word())\\."
    case 6: return "(\\w+)\\.\\1\\."
    case 7: return "\(word())\\K\\.com"
    case 8: return "\\b\(word())\\b"
    case 9: return anchor + "\(word())[^.]*\\.[a-z]{2,3}$"
    default: return "(?i)\(word())"
    }
  }

  static func condition(_ random: inout SeededRandom, patterns: [String]) -> String {
    func leaf() -> String {
      if Int.random(in: 0..<3, using: &random) == 0 {
        // A literal test: one needle or a set, bytes, the `i…` forms folding ASCII only.
        let field = ["dst_dns", "process.comm"].randomElement(using: &random)!
        let operation = ["contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"]
          .randomElement(using: &random)!
        let needles = (0..<Int.random(in: 1...3, using: &random)).map { _ in
          [
            "evil", "EVIL", "c2.", ".com", "www.", "kelvin", "\u{212A}elvin", "Kelvin", "caf\u{E9}", "bad", "aaaa",
            "mail",
          ]
          .randomElement(using: &random)!
        }
        let quoted = needles.map { "'\($0)'" }
        let value = quoted.count == 1 ? quoted[0] : "(\(quoted.joined(separator: ", ")))"
        return "\(field) \(operation) \(value)"
      }
      let field = ["dst_dns", "src_dns", "process.comm"].randomElement(using: &random)!
      let operation = Bool.random(using: &random) ? "imatches" : "matches"
      return "\(field) \(operation) '\(patterns.randomElement(using: &random)!)'"
    }
    switch Int.random(in: 0..<7, using: &random) {
    case 0: return leaf()
    case 1: return "\(leaf()) and \(leaf())"
    case 2: return "\(leaf()) or \(leaf())"
    case 3: return "not \(leaf())"
    case 4: return "dst_port == 53 and \(leaf())"
    case 5: return "\(leaf()) and not (\(leaf()) or dst_port == 80)"
    default: return "(\(leaf()) or dst_port == 443) and \(leaf())"
    }
  }

  static func ruleText(seed: UInt64, rules: Int) -> String {
    var random = SeededRandom(seed: seed)
    // One pattern that backtracks without bound, so that PCRE2's limit is met (each hit costs its
    // million steps: it is kept rare).
    let patterns = ["^(a+)+$"] + (0..<40).map { _ in pattern(&random) }
    var text = ""
    for index in 0..<rules {
      let events = ["[net_flow_tcp_begin]", "[net_flow_tcp_end]", "[net_flow_tcp_begin, net_flow_tcp_end]"]
        .randomElement(using: &random)!
      text += "- rule:\n    id: R\(index)\n    name: r\(index)\n    events: \(events)\n"
      text +=
        "    condition: \"\(condition(&random, patterns: patterns).replacingOccurrences(of: "\\", with: "\\\\"))\"\n"
      if Int.random(in: 0..<4, using: &random) == 0 {
        text +=
          "    exceptions:\n      - \"\(condition(&random, patterns: patterns).replacingOccurrences(of: "\\", with: "\\\\"))\"\n"
      }
      if Int.random(in: 0..<5, using: &random) == 0 {
        text += "    threshold: {count: 2, window: 10s, group_by: [dst_port]}\n"
      }
    }
    return text
  }

  static func events(seed: UInt64, count: Int) -> [SensorEvent] {
    var random = SeededRandom(seed: seed ^ 0x5555)
    func name() -> String {
      switch Int.random(in: 0..<150, using: &random) {
      // 2^21 ways to split the a's: PCRE2 stops at its limit.
      case 0: return String(repeating: "a", count: 21) + "!"
      case 1...15: return "aaaa"
      case 16...30: return "www.evil.evil.com"
      case 31...45: return "ᴋelvin.\u{212A}ELVIN.net"
      case 46...52: return ["Kelvin.example", "caf\u{E9}.org", "www.Kelvin.net"].randomElement(using: &random)!
      default:
        let labels = (0..<Int.random(in: 1...3, using: &random)).map { _ in
          words.randomElement(using: &random)!
            + (Bool.random(using: &random) ? String(Int.random(in: 0...99, using: &random)) : "")
        }
        return labels.joined(separator: ".") + [".com", ".net", ".org", ""].randomElement(using: &random)!
      }
    }
    // The canonically equivalent spelling with other bytes (a KELVIN SIGN for a K, an e and a
    // combining acute for an é): an event after one with its twin must be scanned anew.
    func twin(_ value: String) -> String {
      var scalars = String.UnicodeScalarView()
      for scalar in value.unicodeScalars {
        switch scalar {
        case "K": scalars.append("\u{212A}")
        case "\u{212A}": scalars.append("K")
        case "\u{E9}": scalars.append(contentsOf: ["e", "\u{301}"])
        default: scalars.append(scalar)
        }
      }
      return String(scalars)
    }
    var previous: (names: [String], others: [String], command: String) = ([], [], "curl")
    return (0..<count).map { index in
      var names = (0..<Int.random(in: 0...3, using: &random)).map { _ in name() }
      var others = (0..<Int.random(in: 0...2, using: &random)).map { _ in name() }
      var command = Bool.random(using: &random) ? name() : "curl"
      if Int.random(in: 0..<6, using: &random) == 0 {
        (names, others, command) = (previous.names.map(twin), previous.others.map(twin), twin(previous.command))
      }
      previous = (names, others, command)
      return .flow(
        FlowEvent(
          name: Bool.random(using: &random) ? .netFlowTCPBegin : .netFlowTCPEnd, timestamp: Int64(index) * 1_000_000,
          direction: .outgoing, source: Endpoint(IPAddress("198.51.100.2")!, 40_000),
          destination: Endpoint(IPAddress("203.0.113.9")!, [53, 80, 443].randomElement(using: &random)!),
          sourceNames: others, destinationNames: names,
          process: ProcessIdentity(pid: 1, uid: 0, command: command)))
    }
  }

  @Test(arguments: [1, 2, 3, 4] as [UInt64])
  func generatedRegexRulesRaiseExactlyWhatPCRE2AloneRaises(seed: UInt64) throws {
    let text = Self.ruleText(seed: seed, rules: 150)
    var reference = RuleEngine.Configuration()
    reference.patternSets = false
    let alone = RuleEngine(rules: try RuleLoader.load(text: text), configuration: reference)
    let rules = try RuleLoader.load(text: text)
    let scanned = RuleEngine(rules: rules)
    // Positive controls: the sets exist, rules are gated, and every kind of evaluation occurs.
    let preparation = rules.preparePatterns(stateDirectory: nil)
    #expect(preparation.fields == 3)
    for kind in [PatternEvaluation.exact, .prefilter, .pcre2Only] {
      #expect((preparation.evaluation[kind] ?? 0) > 0, "no \(kind) pattern")
    }
    #expect(preparation.literalSets > 0)
    #expect(rules.rules.contains { $0.gate != nil })

    var expected: [Alert] = []
    var actual: [Alert] = []
    for event in Self.events(seed: seed, count: 2_000) {
      alone.process(event, at: event.timestamp, into: &expected)
      scanned.process(event, at: event.timestamp, into: &actual)
    }
    #expect(!expected.isEmpty)
    #expect(actual.map(\.ruleID) == expected.map(\.ruleID))
    #expect(actual.map(\.count) == expected.map(\.count))
    #expect(scanned.perRule.count == alone.perRule.count)
    let differing = zip(scanned.perRule, alone.perRule).filter { $0 != $1 }
    #expect(differing.isEmpty, "rules counted differently (scanned, alone): \(differing.prefix(3))")
    #expect(scanned.counters.matches == alone.counters.matches)
    // The reference did meet PCRE2's limit, so the equality above covers limit hits.
    #expect(alone.perRule.contains { $0.regexLimitHits > 0 })
  }
}

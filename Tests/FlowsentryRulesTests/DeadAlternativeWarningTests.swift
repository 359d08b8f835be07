import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// A case-sensitive regex on a DNS name field whose alternative needs a capital (or another
/// character a name never holds): live, that alternative is never taken. The warning names it, at
/// its letter; where the capital is optional or folded it says nothing, and the pattern matches as
/// it did.
@Suite struct DeadAlternativeWarningTests {
  private func warnings(_ condition: String) throws -> [Diagnostic] {
    let text = """
      - rule:
          id: T-1
          name: t
          events: [net_flow_tcp_begin, net_packet_dns]
          condition: \(condition)
          output: x
      """
    return try RuleLoader.load(text: text, file: "w.yaml").warnings
  }

  @Test func anAlternativeNeedingACapitalWarnsAtTheLetter() throws {
    let found = try warnings(#"remote_dns matches '^(Evil|bad)\.com$'"#)
    #expect(found.count == 1, "\(found)")
    // The quote is at column 35; `E` is the pattern's third scalar.
    #expect(found.first?.line == 5 && found.first?.column == 38, "\(found)")
    let expected: String =
      #"'remote_dns matches' can never take the alternative 'Evil' of '^(Evil|bad)\.com$': it needs the "#
      + "capital 'E', but remote_dns holds names as capture delivers them (lower case, other bytes as \\DDD: "
      + "docs/EVENTS.md); use 'imatches' or write the alternative in lower case"
    #expect(found.first?.message == expected, "\(found)")
  }

  @Test func everyKindOfGroupAndTheTopLevelHaveAlternatives() throws {
    let cases: [(String, String, Int)] = [
      (#"^(Evil|Bad)\.com$"#, "'Evil' of", 38),
      (#"^(?:www\.|WWW\.)?example\.com$"#, #"'WWW\.' of"#, 46),
      (#"^(?<brand>Evil|bad)\.com$"#, "'Evil' of", 46),
      ("a(B|c)", "'B' of", 38),
      ("Ev|ok", "'Ev' of", 36),
      (#"^(x|(Evil)\.org)$"#, #"'(Evil)\.org' of"#, 41),
      ("^(x|é)$", "'é' of", 40),
    ]
    for (pattern, named, column) in cases {
      let found = try warnings("remote_dns matches '\(pattern)'")
      #expect(found.count == 1 && found[0].column == column, "\(pattern): \(found)")
      #expect(found.first?.message.contains("the alternative \(named)") == true, "\(pattern): \(found)")
    }
    #expect(
      try warnings(#"remote_dns matches '^(Evil|Bad)\.com$'"#).first?.message.hasSuffix(
        "(1 more alternative needs one too)") == true)
    // A group without `|` that must match is part of the pattern: every match needs its capital.
    let whole = try warnings(#"remote_dns matches '^(Evil)\.com$'"#)
    #expect(whole.count == 1 && whole[0].column == 38 && whole[0].message.contains("every match needs"), "\(whole)")
  }

  @Test func optionalFoldedOrUnfollowedCapitalsSayNothing() throws {
    let quiet = [
      #"^([Ee]vil|bad)\.com$"#, "(?i)^(Evil|bad)$", "^((?i)Evil|bad)$", "^(E?vil|bad)$", "^(E*vil|bad)$",
      "^(E{0,1}vil|bad)$", "^((E)?vil|bad)$", #"^(\QE\E|bad)$"#, #"^(\x45vil|bad)$"#, "^(?=E)(x|y)",
      "^(a|b)$", #"^(www\.|)example\.com$"#, "^(?<brand>evil|bad)$", "(?|E|x)",
    ]
    for pattern in quiet {
      #expect(try warnings("remote_dns matches '\(pattern)'").isEmpty, "\(pattern)")
    }
    #expect(try warnings("remote_dns imatches '^(Evil|bad)$' or process.comm matches '^(Evil|bad)$'").isEmpty)
  }

  @Test func theScanAnswersOnItsOwn() {
    let dead = PatternShape.deadAlternative(#"x(Ab|c|De)y"#)
    #expect(dead == PatternShape.DeadAlternative(range: 2..<4, literal: 2, others: 1))
    #expect(PatternShape.deadAlternative("(Ab") == nil)
    #expect(PatternShape.deadAlternative("Ab)") == nil)
    #expect(PatternShape.deadAlternative("Ab") == PatternShape.DeadAlternative(range: 0..<2, literal: 0, others: 0))
  }
}

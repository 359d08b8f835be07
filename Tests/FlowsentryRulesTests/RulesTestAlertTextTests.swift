import FlowsentryCore
import FlowsentryTestSupport
import Foundation
import Testing

@testable import FlowsentryRules

/// `alerts:` as a rule author meets it: `flowsentry rules test` on a file, and the shipped rules'
/// texts, which their tests now hold to what an analyst reads.
@Suite struct RulesTestAlertTextTests {
  static func file(expecting text: String) -> String {
    """
    - rule:
        id: T-TEXT
        name: text
        severity: high
        events: [net_packet_dns]
        condition: dns.questions iendswith (.oast.fun)
        output: "lookup of {dns.questions}"
        tests:
          - name: a lookup
            events:
              - {event: net_packet_dns, questions: [a.oast.fun]}
            alerts:
              - output: "\(text)"
          - name: others
            events:
              - {event: net_packet_dns, questions: [a.example]}
            expect: 0

    """
  }

  static func rulesTest(_ text: String) throws -> ChildProcess.Completed {
    let directory = try RuleIntelListTests.Directory(["t.yaml": text])
    defer { directory.remove() }
    return try ChildProcess.run(flowsentryBinary, ["rules", "test", "--no-default-rules", directory.path + "/t.yaml"])
  }

  @Test func aTextAsRaisedPasses() throws {
    let run = try Self.rulesTest(Self.file(expecting: "lookup of a.oast.fun"))
    #expect(run.termination == .exited(0), "\(run.stdout)\(run.stderr)")
    #expect(run.stdout.contains("ok   T-TEXT: a lookup\n"))
    #expect(run.stdout.hasSuffix("rules: 2 passed, 0 failed, 0 skipped\n"))
  }

  @Test func anotherTextFailsTheRunAndSaysBoth() throws {
    let run = try Self.rulesTest(Self.file(expecting: "lookup of b.oast.fun"))
    #expect(run.termination == .exited(1), "\(run.stdout)\(run.stderr)")
    let lines = run.stdout.split(separator: "\n").map(String.init)
    let failed = try #require(lines.firstIndex { $0.hasPrefix("FAIL ") }, "\(run.stdout)")
    #expect(lines[failed].hasPrefix("FAIL T-TEXT: a lookup (alert 1 of 1 not as 'alerts' expects) at /"))
    #expect(lines[failed].hasSuffix("/t.yaml:9"))
    #expect(lines[failed + 1].hasPrefix("     alert 1 expected at /"))
    #expect(lines[failed + 1].hasSuffix("/t.yaml:13: output \"lookup of b.oast.fun\""))
    #expect(lines[failed + 2] == "     alert 1 raised: high \"lookup of a.oast.fun\"")
    #expect(lines.contains("ok   T-TEXT: others"))
    #expect(lines.last == "rules: 1 passed, 1 failed, 0 skipped")
  }

  /// A text of the shipped rules changed where their tests check it fails those tests, and only
  /// those: without `alerts:` each still raised one alert, and passed.
  @Test func theShippedTestsHoldTheTextsThatMatter() throws {
    func shipped(_ name: String, replacing edits: [(String, String)] = []) throws -> RuleSource {
      var source = try #require(RuleLoader.builtInRules.first { $0.name == "built-in/\(name)" })
      for (old, new) in edits {
        #expect(source.text.contains(old), "\(name) no longer says \(old)")
        source.text = source.text.replacingOccurrences(of: old, with: new)
      }
      return source
    }
    let rules = try RuleLoader.load(
      sources: [
        try shipped("00-lists.yaml"),
        try shipped(
          "20-dns.yaml", replacing: [("testing domain: lookup of {dns.questions}", "testing domain: {dns.questions}")]),
        try shipped(
          "30-intel.yaml",
          replacing: [
            (
              "; lookup of {dns.questions} answered {dns.answers}",
              "; lookup of {dns.questions} answered {dns.questions}"
            ),
            ("connection of {process.comm} with {remote_dns}", "connection of {process.comm} to {remote_dns}"),
          ]),
      ], paths: [])
    let failed = RuleTestRunner.run(rules).filter { !$0.passed }
    #expect(
      Set(failed.map { "\($0.ruleID): \($0.test)" }) == [
        "FS-DNS-003: a lookup of an interactsh name fires, naming the lookup",
        "FS-INTEL-001: a lookup answered with a listed address and the connection after it make one alert",
        "FS-INTEL-001: a lookup answered with a listed address fires alone (no connection, or not over TCP)",
        "FS-INTEL-001: a lookup answered with an allowlisted address and a listed one fires by the listed one "
          + "(the allowlist excepts each answer on its own)",
        "FS-INTEL-002: a connection to a listed name fires alone, naming the process",
      ])
    #expect(failed.allSatisfy { $0.expected == $0.raised && !$0.alertFailures.isEmpty })
  }
}

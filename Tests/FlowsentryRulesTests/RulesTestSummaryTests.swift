import FlowsentryCore
import FlowsentryTestSupport
import Foundation
import Testing

/// `flowsentry rules test` on a large generated set: rules short of tests are named, each with what
/// it lacks, up to a cap, and the rest counted, so that the results are not buried.
@Suite struct RulesTestSummaryTests {
  static func rule(_ id: String, tests: String = "") -> String {
    """
    - rule:
        id: \(id)
        name: \(id)
        severity: low
        events: [net_packet_dns]
        condition: dns.questions iendswith (.oast.fun)
    \(tests)
    """
  }

  @Test func rulesShortOfTestsAreNamedUpToTheCapAndTheRestCounted() throws {
    let firesOnly = """
          tests:
            - name: fires
              events:
                - {event: net_packet_dns, questions: [a.oast.fun]}
              expect: 1

      """
    let quietOnly = """
          tests:
            - name: quiet
              events:
                - {event: net_packet_dns, questions: [a.example]}
              expect: 0

      """
    var text = Self.rule("A-FIRES", tests: firesOnly) + Self.rule("B-QUIET", tests: quietOnly)
    for index in 0..<30 { text += Self.rule(String(format: "GEN-%02d", index)) }
    let directory = try RuleIntelListTests.Directory(["t.yaml": text])
    defer { directory.remove() }
    let run = try ChildProcess.run(
      flowsentryBinary, ["rules", "test", "--no-default-rules", directory.path + "/t.yaml"])
    #expect(run.termination == .exited(0), "\(run.stdout)\(run.stderr)")
    let warnings = run.stdout.split(separator: "\n").filter { $0.hasPrefix("warn ") }.map(String.init)
    #expect(warnings.count == 21, "\(run.stdout)")
    #expect(warnings.first == "warn A-FIRES: needs a test that does not fire")
    #expect(warnings.dropFirst().first == "warn B-QUIET: needs a test that fires")
    #expect(warnings.dropFirst(2).first == "warn GEN-00: needs a test that fires and one that does not")
    #expect(warnings.last == "warn 12 more rules need tests (32 in all)")
    #expect(run.stdout.hasSuffix("rules: 2 passed, 0 failed, 0 skipped; 32 rules short of tests\n"))
  }
}

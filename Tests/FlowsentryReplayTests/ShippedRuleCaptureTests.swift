import FlowsentryReplay
import FlowsentryRules
import FlowsentryTestSupport
import Testing

/// Every test written in the shipped rule files, those that replay a capture included.
@Suite struct ShippedRuleCaptureTests {
  @Test func everyShippedRuleTestPassesWithReplay() throws {
    let results = RuleTestRunner.run(try RuleLoader.load(paths: [shippedRules]), captures: Replayer.ruleTestCaptures)
    for result in results where !result.passed {
      Issue.record(
        "\(result.ruleID) \(result.test): \(result.error ?? "expected \(result.expected), raised \(result.raised)")")
    }
    let replayed = try RuleLoader.load(paths: [shippedRules]).rules.flatMap(\.tests).filter { $0.capture != nil }
    #expect(replayed.count >= 1 && replayed.allSatisfy { $0.expectedAlerts > 0 }, "a capture test that must fire")
  }
}

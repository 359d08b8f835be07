import FlowsentryReplay
import FlowsentryRules
import FlowsentryTestSupport
import Foundation
import Synchronization
import Testing

/// Every test written in the shipped rule files, those that replay a capture included.
@Suite struct ShippedRuleCaptureTests {
  /// The `capture:` keys in the rule files' text, counted without the loader: what must run.
  static func captureTestsInRuleFiles() throws -> Int {
    let files = try FileManager.default.contentsOfDirectory(atPath: shippedRules).filter { $0.hasSuffix(".yaml") }
    var count = 0
    for file in files {
      let text = try String(contentsOfFile: "\(shippedRules)/\(file)", encoding: .utf8)
      count +=
        text.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("capture:") }
        .count
    }
    return count
  }

  @Test func everyShippedRuleTestPassesWithReplay() throws {
    let replays = Atomic<Int>(0)
    let countingReplays: RuleTestRunner.CaptureRunner = { capture, rules in
      replays.add(1, ordering: .relaxed)
      return Replayer.ruleTestCaptures(capture, rules)
    }
    let results = RuleTestRunner.run(try RuleLoader.load(paths: [shippedRules]), captures: countingReplays)
    for result in results where !result.passed {
      Issue.record(
        "\(result.ruleID) \(result.test): \(result.error ?? "expected \(result.expected), raised \(result.raised)")")
    }
    let replayed = try RuleLoader.load(paths: [shippedRules]).rules.flatMap(\.tests).filter { $0.capture != nil }
    #expect(replayed.allSatisfy { $0.expectedAlerts > 0 }, "a capture test that must fire")
    // Each capture test written in rules/ was loaded and replayed: none skipped, none lost.
    let written = try Self.captureTestsInRuleFiles()
    #expect(written > 0, "rules/ has capture tests")
    #expect(replayed.count == written)
    #expect(replays.load(ordering: .relaxed) == written)
  }
}

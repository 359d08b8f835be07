import ArgumentParser
import FlowsentryReplay
import FlowsentryRules

extension RulesCommand {
  struct Test: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the tests written inside rule files.")
    @OptionGroup var paths: Paths

    func run() throws {
      guard let rules = RulesCommand.load(paths.paths, builtIn: !paths.noDefaultRules) else { throw ExitCode.failure }
      let results = RuleTestRunner.run(rules, captures: Replayer.ruleTestCaptures)
      for result in results {
        for line in result.lines { print(line) }
      }
      let untested = rules.rules.filter { rule in
        !rule.tests.contains { $0.expectedAlerts > 0 } || !rule.tests.contains { $0.expectedAlerts == 0 }
      }
      for rule in untested {
        print("warn \(rule.id): needs a test that fires and one that does not")
      }
      let skipped = results.filter { $0.skipped != nil }.count
      let failed = results.filter { !$0.passed && $0.skipped == nil }.count
      print("rules: \(results.count - failed - skipped) passed, \(failed) failed, \(skipped) skipped")
      if failed > 0 { throw ExitCode.failure }
    }
  }
}

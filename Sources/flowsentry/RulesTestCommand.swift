import ArgumentParser
import FlowsentryCore
import FlowsentryReplay
import FlowsentryRules

extension RulesCommand {
  struct Test: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the tests written inside rule files.")
    @OptionGroup var paths: Paths
    @OptionGroup var cache: PatternCacheOption

    /// Rules short of tests named one a line; past it, one line counts the rest.
    static let lackingShown = 20

    func run() throws {
      guard let rules = RulesCommand.load(paths.paths, builtIn: !paths.noDefaultRules) else { throw ExitCode.failure }
      // Built before the first test, and timed: thousands of regexes take seconds, silent otherwise.
      if let line = PatternCacheOption.prepare(rules, cacheDirectory: cache.patternCache, hint: "--pattern-cache DIR") {
        standardError("rules test: " + line)
      }
      let results = RuleTestRunner.run(rules, captures: Replayer.ruleTestCaptures)
      for result in results {
        for line in result.lines { print(line) }
      }
      let lacking = rules.rules.compactMap { rule -> (id: String, missing: String)? in
        let fires = rule.tests.contains { $0.expectedAlerts > 0 }
        let quiet = rule.tests.contains { $0.expectedAlerts == 0 }
        switch (fires, quiet) {
        case (true, true): return nil
        case (false, false): return (rule.id, "a test that fires and one that does not")
        case (false, true): return (rule.id, "a test that fires")
        case (true, false): return (rule.id, "a test that does not fire")
        }
      }
      // A generated set of thousands of rules would print a line each and bury the results.
      for rule in lacking.prefix(Self.lackingShown) { print("warn \(rule.id): needs \(rule.missing)") }
      if lacking.count > Self.lackingShown {
        print("warn \(lacking.count - Self.lackingShown) more rules need tests (\(lacking.count) in all)")
      }
      let skipped = results.filter { $0.skipped != nil }.count
      let failed = results.filter { !$0.passed && $0.skipped == nil }.count
      let untested = lacking.isEmpty ? "" : "; \(counted(lacking.count, "rule", "rules")) short of tests"
      print("rules: \(results.count - failed - skipped) passed, \(failed) failed, \(skipped) skipped\(untested)")
      if failed > 0 { throw ExitCode.failure }
    }
  }
}

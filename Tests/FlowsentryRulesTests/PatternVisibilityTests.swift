import FlowsentryCore
import FlowsentryTestSupport
import Foundation
import Testing

@testable import FlowsentryRules

/// What a rule set's pattern sets say of themselves: each field's regexes by evaluation, the
/// PCRE2-only ones with their rule, position and reason, and a pattern cache that cannot be written
/// (said, and counted), where before all of it was discarded.
@Suite struct PatternVisibilityTests {
  static let rules = """
    - rule:
        id: T-K
        name: keep out
        condition: dst_dns matches 'evil\\.\\Kcom$' or dst_dns matches 'x(?:[a-z]{1,5}\\.)+net$'
    - rule:
        id: T-OK
        name: plain
        condition: dst_dns matches 'mail[0-9]+\\.example\\.com' or remote_dns imatches 'a(?=b)c+d'
    """

  @Test func eachFieldsRegexesByEvaluationAndThePCRE2OnlyOnesWithWhereAndWhy() throws {
    let rules = try RuleLoader.load(text: Self.rules, file: "p.yaml")
    // Not built until asked: the monitor asks before it attaches.
    #expect(rules.preparedPatterns == nil)
    let outcome = rules.preparePatterns(stateDirectory: nil)
    #expect(rules.preparedPatterns == outcome)
    #expect(outcome.byField.map(\.field) == ["dst_dns", "remote_dns"])
    let dns = try #require(outcome.byField.first)
    #expect(dns.patterns == 3)
    #expect(dns.evaluationCounts.map(\.count) == [1, 0, 0, 2], "\(dns.evaluationCounts)")
    #expect(outcome.byField.last?.evaluationCounts.map(\.count) == [0, 0, 1, 0])
    let listed = dns.pcre2Only.map(\.pattern)
    #expect(listed == ["evil\\.\\Kcom$", "x(?:[a-z]{1,5}\\.)+net$"])
    let keep = try #require(dns.pcre2Only.first)
    #expect(keep.uses == [PatternUse(ruleID: "T-K", location: "p.yaml:4:32")])
    // Hyperscan's own words for \K; ours for a repeated group that backtracks.
    #expect(keep.reason.hasPrefix("Hyperscan refused it: ") && keep.reason.contains("\\K"), "\(keep.reason)")
    #expect(dns.pcre2Only.last?.reason.hasPrefix("a repeated group holds a quantifier") == true)
    #expect(dns.pcre2Only.last?.uses.first?.location == "p.yaml:4:66")
    #expect(
      outcome.summary.hasPrefix("4 regexes in 2 fields (1 exact, 0 confirmed, 1 prefilter, 2 PCRE2 only), built in "))
    #expect(outcome.summary.hasSuffix(" kB"), "\(outcome.summary)")
  }

  @Test func thousandsAreGrouped() {
    #expect(grouped(4610) == "4,610" && grouped(250) == "250" && grouped(1_000_000) == "1,000,000")
  }

  /// `state_dir/patterns` a file: every start would compile again. The outcome names the path and
  /// the error, and an engine counts the failed writes.
  @Test func aCacheThatCannotBeWrittenIsSaidAndCounted() throws {
    let state = FileManager.default.temporaryDirectory.appendingPathComponent("fs-patvis-\(UUID())")
    try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: state) }
    try Data("not a directory".utf8).write(to: state.appendingPathComponent("patterns"))
    let rules = try RuleLoader.load(text: Self.rules, file: "p.yaml")
    var configuration = RuleEngine.Configuration()
    configuration.stateDirectory = state.path
    // The engine builds a set not prepared, as replay and older monitors did.
    let engine = RuleEngine(rules: rules, configuration: configuration)
    #expect(engine.counters.patternCacheWriteFailures == 2, "\(engine.counters)")
    #expect(engine.counters.patternCacheMisses == 2)
    let outcome = try #require(rules.preparedPatterns)
    let failure = try #require(outcome.cacheWriteFailure)
    #expect(failure.hasPrefix(state.appendingPathComponent("patterns").path + "/"), "\(failure)")
    #expect(failure.contains("Not a directory"), "\(failure)")
    let rows = engine.counters.samples(perRule: [])
    #expect(rows.first { $0.name == "flowsentry_rule_pattern_cache_write_failures_total" }?.value == 2)
    #expect(rows.first { $0.name == "flowsentry_rule_pattern_cache_damaged_total" }?.value == 0)
  }

  /// A cache file damaged in place is counted as damaged (and as a miss), and replaced.
  @Test func aDamagedCacheFileIsCounted() throws {
    let state = FileManager.default.temporaryDirectory.appendingPathComponent("fs-patvis-\(UUID())")
    defer { try? FileManager.default.removeItem(at: state) }
    _ = try RuleLoader.load(text: Self.rules, file: "p.yaml").preparePatterns(stateDirectory: state.path)
    let directory = state.appendingPathComponent("patterns")
    let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    #expect(files.count == 2)
    for file in files { try Data("damaged".utf8).write(to: directory.appendingPathComponent(file)) }
    let outcome = try RuleLoader.load(text: Self.rules, file: "p.yaml").preparePatterns(stateDirectory: state.path)
    #expect(outcome.cacheDamaged == 2 && outcome.cacheMisses == 2 && outcome.cacheHits == 0, "\(outcome)")
    let again = try RuleLoader.load(text: Self.rules, file: "p.yaml").preparePatterns(stateDirectory: state.path)
    #expect(again.cacheHits == 2 && again.cacheDamaged == 0)
    #expect(again.summary.contains("loaded from the cache in "), "\(again.summary)")
  }

  /// `rules check` builds the sets and reports them; `--no-patterns` does not.
  @Test func rulesCheckReportsEachFieldAndListsThePCRE2OnlyRegexes() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-patvis-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("p.yaml")
    try Self.rules.write(to: file, atomically: true, encoding: .utf8)
    let result = try ChildProcess.run(
      RulesCommandExitTests.binary, ["rules", "check", "--no-default-rules", "--pcre2-only-limit", "1", file.path])
    #expect(result.termination == .exited(0), "\(result.stderr)")
    let lines = result.stdout.split(separator: "\n").map(String.init)
    #expect(
      lines.first?.hasPrefix("patterns: 4 regexes in 2 fields (1 exact, 0 confirmed, 1 prefilter, 2 PCRE2 only)")
        == true, "\(lines)")
    #expect(lines.contains("  dst_dns: 3 regexes (1 exact, 0 confirmed, 0 prefilter, 2 PCRE2 only)"), "\(lines)")
    #expect(lines.contains { $0.hasPrefix("PCRE2 only: 2 regexes") })
    #expect(
      lines.contains {
        $0.hasPrefix("  \(file.path):4:32: T-K: dst_dns matches 'evil\\.\\Kcom$': Hyperscan refused it")
      }, "\(lines)")
    #expect(lines.contains("  … and 1 more (--pcre2-only-limit 2 lists them all)"), "\(lines)")
    #expect(lines.last == "1 file, 2 rules (2 enabled), 4 regexes, 0 warnings: OK")
    let quick = try ChildProcess.run(
      RulesCommandExitTests.binary, ["rules", "check", "--no-default-rules", "--no-patterns", file.path])
    #expect(quick.stdout == "1 file, 2 rules (2 enabled), 4 regexes, 0 warnings: OK\n", "\(quick.stdout)")
  }
}

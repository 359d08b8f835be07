import ArgumentParser
import FlowsentryCore
import FlowsentryRules
import Foundation

/// `--pattern-cache DIR` of `rules test` and `replay`: where the rules' compiled regex databases (and
/// `contains` lists' databases) are kept between runs, as the monitor keeps them under
/// `state_dir/patterns`. Without it every run compiles them all again (10,000 regexes: about 15 s; a
/// `contains` list of 200,000 needles: about 13 s), the same work each time.
struct PatternCacheOption: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      """
      Keep the rules' compiled regex and `contains` list databases in this directory (created if missing; \
      the monitor's is STATE_DIR/patterns), so that a later run with the same rules loads them instead of \
      compiling. \
      Files are written, never removed here: the monitor prunes its own directory.
      """, valueName: "dir"))
  var patternCache: String?

  /// Builds `rules`' pattern sets now (before any event, so that their time is said on its own) with
  /// the cache in `directory`, and the line that says what it took; nil when the rules hold no
  /// regex and no `contains` list. `hint` names how to get a cache, said when there is none.
  static func prepare(_ rules: RuleSet, cacheDirectory directory: String?, hint: String) -> String? {
    let clock = ContinuousClock()
    let started = clock.now
    let outcome = rules.preparePatterns(stateDirectory: nil, patternCacheDirectory: directory)
    let elapsed = clock.now - started
    guard outcome.patterns > 0 || outcome.literalDatabases > 0 else { return nil }
    let seconds = elapsed.inSeconds
    var sets: [String] = []
    if outcome.patterns > 0 {
      sets.append(
        "pattern sets of \(counted(outcome.patterns, "regex", "regexes")) on \(counted(outcome.fields, "field"))")
    }
    if outcome.literalDatabases > 0 {
      sets.append(
        "\(counted(outcome.literalDatabases, "list database")) (`contains` over "
          + "\(counted(outcome.literalDatabaseNeedles, "needle")))")
    }
    var line = sets.joined(separator: " and ") + " ready in \(String(format: "%.2f", seconds)) s"
    guard let directory else {
      return line + "; compiled without a cache (\(hint) keeps them for the next run)"
    }
    // A set is one file: loaded, or compiled (none there, or a damaged one) and then stored.
    let stored = outcome.cacheMisses &- min(outcome.cacheMisses, outcome.cacheWriteFailures)
    line += "; cache \(directory): \(outcome.cacheHits) loaded, \(stored) compiled and stored"
    if outcome.cacheWriteFailures > 0 {
      line += ", \(outcome.cacheWriteFailures) compiled but could not be stored there"
    }
    return line
  }
}

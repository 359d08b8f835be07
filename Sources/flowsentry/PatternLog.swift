import FlowsentryRules
import Logging

/// What the monitor says of a load's pattern sets, at the start and at every reload: one line of
/// what was built (or loaded from the cache) and how long it took, and a warning for each thing that
/// made it slower than it need be. Before this, a start with thousands of regexes said nothing of
/// them, and a pattern cache that could not be written made every start compile, silently.
enum PatternLog {
  static func report(_ outcome: PatternPreparation, logger: Logger) {
    guard outcome.patterns > 0 || !outcome.byField.isEmpty || outcome.literalDatabases > 0 else { return }
    let pcre2Only = outcome.pcre2OnlyCount
    // The PCRE2-only ones cost tens of times the others on every value: say where to see which.
    let hint = pcre2Only > 0 ? "; `flowsentry rules check` lists the PCRE2-only ones and why" : ""
    logger.info(
      "patterns: \(outcome.summary)\(hint)",
      metadata: [
        "regexes": "\(outcome.patterns)", "fields": "\(outcome.fields)",
        "evaluation": .dictionary(
          Dictionary(uniqueKeysWithValues: outcome.evaluationCounts.map { ($0.metricLabel, "\($0.count)") })),
        "cache_hits": "\(outcome.cacheHits)", "cache_misses": "\(outcome.cacheMisses)",
        "database_bytes": "\(outcome.databaseBytes)",
        "literal_database_needles": "\(outcome.literalDatabaseNeedles)",
        "literal_databases": "\(outcome.literalDatabases)",
        "literal_databases_from_cache": "\(outcome.literalDatabasesFromCache)",
      ])
    for field in outcome.byField {
      if let failure = field.failure { logger.warning("patterns: \(field.field): \(failure)") }
    }
    if let failure = outcome.cacheWriteFailure {
      let message =
        "patterns: cannot write the pattern cache (\(failure)); every start compiles the regexes again; "
        + "state_dir/patterns must be a directory the monitor can write"
      logger.warning("\(message)")
    }
    if outcome.cacheDamaged > 0 {
      logger.warning(
        "patterns: \(outcome.cacheDamaged) damaged file(s) in the pattern cache were rebuilt and replaced")
    }
  }
}

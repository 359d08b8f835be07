import FlowsentryCore
import FlowsentryIntel
import FlowsentryRules
import Synchronization

/// What a reloader counts, and the counter table's rows of it: reloads asked for, skipped, failed.
extension RuleReloader {
  /// Reloads asked for with `cause`, whatever their outcome, counted when asked for: a SIGHUP's when
  /// it arrives, a feed change's when its comparison finds a feed changed and the load starts (or
  /// the comparison runs past its limit, as it may have found a change). A feed change skipped, or
  /// ended by shutdown before its load started, is not one.
  public func reloads(by cause: Cause) -> Int {
    reloadCounts.withLock { $0[cause, default: 0] }
  }

  /// Feed changes that loaded nothing, every feed holding the running set's bytes.
  public var skippedReloads: Int { skippedCount.load(ordering: .relaxed) }

  /// Reloads asked for with `cause` that left the running rules in place: the new set did not
  /// validate, did not load within the time limit, or (a feed change) its feeds could not be
  /// compared within it. What an operator alerts on: the log says why, the counter that it happened.
  public func failedReloads(by cause: Cause) -> Int {
    failureCounts.withLock { $0[cause, default: 0] }
  }

  func countingFailure(_ outcome: Outcome, _ cause: Cause) -> Outcome {
    switch outcome {
    case .failed, .timedOut: failureCounts.withLock { $0[cause, default: 0] += 1 }
    case .loaded, .busy: break
    }
    return outcome
  }

  func countingFailure(_ outcome: FeedChangeOutcome) -> FeedChangeOutcome {
    switch outcome {
    case .reloaded(let reloaded): _ = countingFailure(reloaded, .feedChange)
    case .comparisonTimedOut: failureCounts.withLock { $0[.feedChange, default: 0] += 1 }
    case .feedsUnchanged, .unloadableAsBefore: break
    }
    return outcome
  }

  /// `rules`, having pruned the pattern cache to it when this reloader prunes one (on the loader
  /// thread: it lists the directory and unlinks files), with what that did in
  /// `patternCachePruning` for the reload's log line, and counted.
  func pruningCache(to rules: RuleSet) -> RuleSet {
    guard let patternCacheStateDirectory else { return rules }
    // Its files are known once its sets are built with the cache. The monitor's loads build them
    // (first load and reloads, before attaching and logging them); a load closure that does not
    // (a library caller's) has them built here, off the pipeline; a set built already returns what
    // it built.
    rules.preparePatterns(stateDirectory: patternCacheStateDirectory)
    guard let pruning = rules.prunePatternCache(stateDirectory: patternCacheStateDirectory) else { return rules }
    patternCachePrunings.withLock {
      $0.filesRemoved &+= UInt64(pruning.removedFiles)
      $0.failures &+= UInt64(pruning.failures.count)
      $0.bytesKept = pruning.keptBytes
    }
    var rules = rules
    rules.patternCachePruning = pruning
    return rules
  }

  /// The counter table's rows: reloads asked for, by cause, every cause listed from the start, and
  /// the feed changes skipped.
  public var samples: [MetricSample] {
    Self.samples(
      reloads: { reloads(by: $0) }, skipped: skippedReloads, failures: { failedReloads(by: $0) },
      loadedAt: Int(loadedAtSeconds.load(ordering: .relaxed)), patternCache: patternCachePrunings.withLock { $0 })
  }

  /// The rows for reloads counted by `reloads` and `skipped` (the table at zero, before a reloader exists).
  public static func samples(
    reloads: (Cause) -> Int, skipped: Int = 0, failures: (Cause) -> Int = { _ in 0 }, loadedAt: Int = 0,
    patternCache: PatternCachePruningCounts = PatternCachePruningCounts()
  ) -> [MetricSample] {
    Cause.allCases.map { cause in
      .counter(
        "flowsentry_rule_reloads_total", UInt64(max(0, reloads(cause))), [("cause", cause.rawValue)],
        help:
          "Rule reloads asked for (SIGHUP, or a feed file replaced), whatever their outcome: a feed change "
          + "counts as its load starts, so a reload under way, timed out or failed counts, or when the "
          + "comparison of its feeds runs past its limit (then nothing loads); a feed change that left "
          + "every feed's bytes as loaded is counted as skipped instead.")
    } + [
      .counter(
        "flowsentry_rule_reloads_skipped_total", UInt64(max(0, skipped)), [("reason", "feeds_unchanged")],
        help: "Feed changes that reloaded nothing: every feed file held the bytes the running rules were loaded from.")
    ]
      + Cause.allCases.map { cause in
        .counter(
          "flowsentry_rule_reload_failures_total", UInt64(max(0, failures(cause))), [("cause", cause.rawValue)],
          help:
            "Reloads that left the running rules in place: the new rules did not validate (the log gives each "
            + "error at its file:line:col), did not load within the time limit, or a feed change's comparison "
            + "ran past it. Any increase means the sensor runs older rules or feeds than its files hold.")
      }
      + [
        .gauge(
          "flowsentry_rules_loaded_timestamp_seconds", loadedAt,
          help:
            "When the running rules and feeds were loaded (Unix time, seconds): at the start, or by the last "
            + "reload that loaded; 0 before the first. time() minus it is their age.")
      ] + patternCache.samples
  }
}

/// What pruning the pattern cache to each set taken to run came to (`RuleReloader.pruneCache`).
public struct PatternCachePruningCounts: Sendable, Equatable {
  public var filesRemoved: UInt64 = 0
  public var failures: UInt64 = 0
  /// The cache files' bytes after the last pruning: the running set's plus recent unused ones.
  public var bytesKept: UInt64 = 0

  public init() {}

  var samples: [MetricSample] {
    [
      .counter(
        "flowsentry_rule_pattern_cache_files_removed_total", filesRemoved,
        help:
          "Compiled regex database files removed from state_dir/patterns because the rules taken to run (at the "
          + "start or by a reload) do not use them, and they were written over 10 minutes before."),
      .counter(
        "flowsentry_rule_pattern_cache_removal_failures_total", failures,
        help:
          "Unused files of state_dir/patterns that could not be removed, or the directory could not be listed "
          + "(a reload's log line says which and why): the directory then grows."),
      .gauge(
        "flowsentry_rule_pattern_cache_bytes", Int(clamping: bytesKept),
        help:
          "Bytes of compiled regex database files in state_dir/patterns after the last pruning: the running "
          + "rules' files and unused ones written in the 10 minutes before it."),
    ]
  }
}

import FlowsentryCore

extension RuleEngine.Counters {
  /// The rule engine's rows of the counter table: totals, then per rule (whose zero rows the
  /// exit line leaves out: most rules match nothing most of the time).
  public func samples(perRule: [RuleEngine.RuleCounters]) -> [MetricSample] {
    var samples: [MetricSample] = [
      .counter("flowsentry_rule_events_total", events, help: "Events the rules were evaluated on."),
      .counter(
        "flowsentry_threshold_group_evictions_total", groupEvictions,
        help: "Threshold groups forgotten at the bound (10,000 per rule)."),
      .counter(
        "flowsentry_rule_state_files_damaged_total", stateFilesDamaged,
        help:
          "First-seen state files found damaged (or of a rule learning other values) at load: rebuilt, the rule learns again."
      ),
      .counter(
        "flowsentry_rule_state_write_failures_total", stateWriteFailures,
        help: "First-seen state files that could not be written to the state directory."),
      .counter(
        "flowsentry_first_seen_values_dropped_total", firstSeenValuesDropped,
        help: "Values a first-seen group did not learn because it held its maximum."),
      .counter(
        "flowsentry_rule_pattern_cache_hits_total", patternCacheHits,
        help: "Compiled regex databases loaded from state_dir/patterns instead of compiled."),
      .counter(
        "flowsentry_rule_pattern_cache_misses_total", patternCacheMisses,
        help: "Regex databases compiled because state_dir/patterns had none (or a damaged one)."),
      .counter(
        "flowsentry_rule_pattern_cache_damaged_total", patternCacheDamaged,
        help:
          "Files in state_dir/patterns that failed their checks (checksum, layout, Hyperscan's version or platform): rebuilt and replaced; counted among the misses too."
      ),
      .counter(
        "flowsentry_rule_pattern_cache_write_failures_total", patternCacheWriteFailures,
        help:
          "Compiled regex databases that could not be written to state_dir/patterns (the log names the path and the error): every start compiles them again."
      ),
    ]
    func perRuleRows(_ name: String, _ help: String, _ value: (RuleEngine.RuleCounters) -> UInt64) {
      for rule in perRule {
        var sample = MetricSample.counter(name, value(rule), [("rule", rule.ruleID)], help: help)
        sample.quietWhenZero = true
        samples.append(sample)
      }
    }
    perRuleRows("flowsentry_rule_matches_total", "Events that matched a rule's condition, by rule.", \.matches)
    perRuleRows("flowsentry_alerts_total", "Alerts raised, by rule.", \.alerts)
    perRuleRows("flowsentry_alerts_suppressed_total", "Alerts folded by suppression, by rule.", \.suppressed)
    perRuleRows(
      "flowsentry_regex_limit_hits_total", "Regex matches a match or depth limit stopped (no match), by rule.",
      \.regexLimitHits)
    return samples
  }
}

extension IntelListSummary {
  /// Gauges of the running set's typed lists, by list: what each held at its last load, so that a
  /// feed replaced by an error page or an empty file (a list that drops to nothing, or whose lines
  /// turn malformed) shows on a dashboard, not only in the reload's log.
  public static func samples(_ lists: [IntelListSummary]) -> [MetricSample] {
    var samples: [MetricSample] = []
    // Lists with no malformed line or no file (inline items) are left out of the exit line.
    func rows(_ name: String, _ help: String, quietWhenZero: Bool = false, _ value: (IntelListSummary) -> Int) {
      for list in lists {
        var sample = MetricSample.gauge(name, value(list), [("list", list.name)], help: help)
        sample.quietWhenZero = quietWhenZero
        samples.append(sample)
      }
    }
    rows("flowsentry_intel_list_indicators", "Distinct indicators a typed list holds, as last loaded.", \.indicators)
    rows(
      "flowsentry_intel_list_malformed_lines",
      "Feed lines (or fields of a line) a typed list skipped as malformed at its last load.",
      quietWhenZero: true, \.malformed)
    rows("flowsentry_intel_list_files", "Feed files a typed list read at its last load.", quietWhenZero: true, \.files)
    rows(
      "flowsentry_intel_list_skipped_files",
      "Paths a typed list's globs matched and skipped at its last load: not regular files, or past the feed size limit.",
      quietWhenZero: true, \.skippedFiles)
    rows("flowsentry_intel_list_memory_bytes", "Bytes a typed list's structures take.", \.memoryBytes)
    return samples
  }
}

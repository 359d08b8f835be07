import FlowsentryCore
import FlowsentryRules

/// `rules check`'s report of the regex pattern sets: what was built, each field's regexes by
/// evaluation, and the PCRE2-only ones with where and why. A PCRE2-only regex is matched by PCRE2
/// against every value of its field (about 50 times the cost of one Hyperscan answers), and nothing
/// else shows which they are.
enum PatternReport {
  static func lines(_ outcome: PatternPreparation, limit: Int) -> [String] {
    var lines = ["patterns: \(outcome.summary)"]
    for field in outcome.byField {
      let counts = field.evaluationCounts.map { "\($0.count) \($0.label)" }.joined(separator: ", ")
      lines.append("  \(field.field): \(counted(field.patterns, "regex", "regexes")) (\(counts))")
      if let failure = field.failure { lines.append("  \(field.field): warning: \(failure)") }
    }
    let pcre2Only = outcome.byField.flatMap { field in field.pcre2Only.map { (field.field, $0) } }
    guard !pcre2Only.isEmpty else { return lines }
    lines.append(
      "PCRE2 only: \(counted(pcre2Only.count, "regex", "regexes")), each matched by PCRE2 against every value "
        + "of its field (tens of times the cost of the others):")
    for (field, pattern) in pcre2Only.prefix(limit) {
      let comparison = pattern.caseInsensitive ? "imatches" : "matches"
      let first = pattern.uses.first
      let others = pattern.uses.count > 1 ? " (and \(counted(pattern.uses.count - 1, "other use")))" : ""
      // A pattern is the rule author's text, printed to a terminal: control characters escaped.
      lines.append(
        "  \(first?.location ?? "?"): \(first?.ruleID ?? "?"): \(field) \(comparison) "
          + "'\(TerminalText.escapingControls(pattern.pattern))'\(others): \(pattern.reason)")
    }
    if pcre2Only.count > limit {
      lines.append("  … and \(pcre2Only.count - limit) more (--pcre2-only-limit \(pcre2Only.count) lists them all)")
    }
    return lines
  }
}

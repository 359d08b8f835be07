import FlowsentryCore

extension RuleEngine.Counters {
  /// The families (Prometheus names) whose zero rows the human summaries leave out: the per-rule
  /// and per-list rows marked `quietWhenZero`. `flowsentry status` reads rows back from `/metrics`,
  /// which does not carry the mark, and takes it from here, so that it prints what the exit record
  /// prints; made from the rows themselves, so that a family marked later is known here too.
  public static let quietWhenZeroNames: Set<String> = {
    let rules = RuleEngine.Counters().samples(perRule: [RuleEngine.RuleCounters(ruleID: "")])
    let lists = IntelListSummary.samples([IntelListSummary(name: "", type: "", match: "", location: "")])
    return Set((rules + lists).filter(\.quietWhenZero).map(\.name))
  }()
}

import FlowsentryCore

extension IntelListSummary {
  /// A list left with less than half of the indicators it held (none, at worst) by a reload: what a
  /// feed replaced by an error page, an empty file or a download cut short does, and which the rules
  /// would otherwise take in silence. A feed that shrinks by less is taken as a feed's ordinary churn.
  public static func hasShrunk(from before: Int, to after: Int) -> Bool {
    after * 2 < before
  }
}

extension RuleSet {
  /// A warning, at the list's declaration, for each typed list this set holds that has shrunk
  /// (`IntelListSummary.hasShrunk`) from the list of the same name in `running`, the set it
  /// replaces. A list `running` lacks, or this set lacks, is a rule edit: nothing to compare.
  public func warningsForShrunkLists(comparedWith running: [IntelListSummary]) -> [Diagnostic] {
    let before = Dictionary(running.map { ($0.name, $0.indicators) }, uniquingKeysWith: { first, _ in first })
    return intelLists.compactMap { list in
      guard let held = before[list.name], IntelListSummary.hasShrunk(from: held, to: list.indicators) else {
        return nil
      }
      let files =
        list.filePatterns.isEmpty ? "it reads no files" : "files: " + list.filePatterns.joined(separator: ", ")
      return Diagnostic(
        .warning, file: list.declarationFile, line: list.declarationLine, column: list.declarationColumn,
        message:
          "list '\(list.name)' holds \(counted(list.indicators, "indicator")) after this reload, \(held) before (\(files)): "
          + "the reloaded rules run with the smaller list; check its feeds (a failed download, an error page) "
          + "and replace them")
    }
  }
}

import FlowsentryCore
import FlowsentryPatterns
import Foundation
import Yams

/// Compile: rule nodes into rules (conditions, thresholds, templates, tests), every problem at its position.
extension RuleSetBuilder {
  mutating func compile(files: [String]) -> RuleSet {
    checkExceptLists()
    loadIntelLists()
    let compiler = ConditionCompiler(lists: lists, macros: macros)
    var rules: [Rule] = []
    var seen: [String: SourceLocation] = [:]
    var testEvents = 0
    for (file, body, here) in ruleNodes {
      let compiled = compileRule(body, file, here, compiler, testEvents: &testEvents)
      takeWarnings(compiler)
      guard let rule = compiled else { continue }
      // A later file's rule replaces an earlier one's, in its place: a user may copy the shipped
      // rules to edit them. Within one file the same id twice is a mistake.
      if let previous = seen[rule.id] {
        if previous.file == here.file {
          report(
            .error, here,
            "duplicate rule id '\(rule.id)' (first defined at \(previous.file):\(previous.line):\(previous.column))")
          continue
        }
        report(
          .warning, here,
          "rule '\(rule.id)' replaces the one defined at \(previous.file):\(previous.line):\(previous.column)")
        replacements.append(diagnostics[diagnostics.count - 1])
        rules[rules.firstIndex { $0.id == rule.id }!] = rule
      } else {
        rules.append(rule)
      }
      seen[rule.id] = here
    }
    for (id, (enabled, location)) in enabledOverrides {
      if let index = rules.firstIndex(where: { $0.id == id }) {
        rules[index].enabled = enabled
      } else {
        report(.error, location, "no rule with id '\(id)' to enable or disable")
      }
    }
    // Taken before checking them: a macro only unused macros use is unused too.
    let unusedMacros = macros.values.filter { !compiler.usedMacros.contains($0.name) }.sorted { $0.name < $1.name }
    for macro in unusedMacros {
      // A macro no rule uses is still checked, so that its mistakes show before it is used.
      do { _ = try compiler.compileMacro(macro.name, at: macro.location, checkingOnly: true) } catch {
        report(.error, error.location, hinted(error))
      }
      takeWarnings(compiler)
      if macro.deprecated == nil { report(.warning, macro.location, "macro '\(macro.name)' is not used") }
    }
    for list in lists.values.sorted(by: { $0.name < $1.name }) where !compiler.usedLists.contains(list.name) {
      report(.warning, list.location, "list '\(list.name)' is not used")
    }
    // One index for the load: its pattern sets are built later, off the pipeline (RulePatterns.swift).
    var seenLeaves: Set<ObjectIdentifier> = []
    let index = RulePatternIndex(
      leaves: rules.flatMap(\.regexLeaves).filter { seenLeaves.insert(ObjectIdentifier($0)).inserted },
      literalLeaves: compiler.literalLeaves)
    for position in rules.indices { rules[position].patternIndex = index }
    // Named beside each PCRE2-only pattern by `rules check`.
    for rule in rules { for leaf in rule.regexLeaves { leaf.ruleIDs.append(rule.id) } }
    var ruleSet = RuleSet(
      rules: rules, warnings: diagnostics.filter { $0.severity == .warning }, files: files,
      regexCount: Set(rules.flatMap { $0.regexes.map(ObjectIdentifier.init) }).count, replacements: replacements)
    ruleSet.intelLists = intelListSummaries()
    // The lists enabled rules test (their conditions and exceptions): a disabled rule's, a replaced
    // rule's or an unused macro's list raises no alert, and is not looked in.
    let readByEnabledRules = Set(rules.filter(\.enabled).flatMap(\.intelListsRead))
    ruleSet.indicatorLists = lists.keys.sorted().compactMap { name in
      guard readByEnabledRules.contains(name), let intel = lists[name]?.intel else { return nil }
      return IndicatorListReference(
        name: name, type: intel.type, severity: intel.severity, sets: intel.sets, except: intel.except.map(\.name))
    }
    return ruleSet
  }

  private mutating func compileRule(
    _ body: Node.Mapping, _ file: String, _ here: SourceLocation, _ compiler: ConditionCompiler,
    testEvents: inout Int
  ) -> Rule? {
    let errorsBefore = diagnostics.count
    let id = requiredString(body, "id", "a rule", file, at: here) ?? ""
    let name = requiredString(body, "name", "a rule", file, at: here) ?? id
    for (key, text) in [("id", id), ("name", name)] {
      if let node = body[key] { _ = checkPrintable(text, node, key, file) }
    }
    let description = body["description"]?.string ?? ""
    var severity = Severity.medium
    if let node = body["severity"] {
      if let value = node.string.flatMap(Severity.init(rawValue:)) {
        severity = value
      } else {
        report(
          .error, location(node, file),
          "severity must be one of \(Severity.allCases.map(\.rawValue).joined(separator: ", "))")
      }
    }
    var enabled = true
    if let node = body["enabled"] {
      if let value = node.bool {
        enabled = value
      } else {
        report(.error, location(node, file), "'enabled' must be true or false")
      }
    }
    var events: Set<EventName> = [.netFlowTCPBegin, .netFlowTCPEnd]
    if body["events"] != nil {
      events = []
      for (text, at) in stringList(body["events"], "events", file) {
        if let event = EventName(rawValue: text) {
          events.insert(event)
        } else if let set = EventName.sets[text] {
          events.formUnion(set)
        } else {
          report(
            .error, at,
            "unknown event '\(text)' (events: \(EventName.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
      }
    }
    var condition: Predicate = { _ in false }
    var regexes: [PCRE2Regex] = []
    var leaves: [RegexLeaf] = []
    var required: [RegexLeaf] = []
    var eventGate: EventGate?
    // The condition and its exceptions together are what each event costs: one budget.
    var nodes = 0
    var intelTerms: [IntelTerm] = []
    var intelListsRead: Set<String> = []
    if let text = conditionText(body["condition"], "condition", file, at: here) {
      do {
        let compiled = try compiler.compile(text)
        condition = compiled.predicate
        regexes += compiled.regexes
        leaves += compiled.leaves
        required = compiled.required
        nodes = compiled.nodes
        intelTerms = compiled.intelTerms
        intelListsRead.formUnion(compiled.intelTerms.flatMap(\.listsRead))
        eventGate = compiled.gate
      } catch { report(.error, error.location, hinted(error, text)) }
    }
    var exceptions: [Predicate] = []
    if let node = body["exceptions"] {
      if case .sequence(let items) = node {
        for item in items {
          let conditionNode: Node? = item.scalar != nil ? item : item.mapping?["condition"]
          if case .mapping(let mapping) = item { checkKeys(mapping, ["name", "condition"], "an exception", file) }
          guard let text = conditionText(conditionNode, "condition", file, at: location(item, file)) else { continue }
          do {
            let compiled = try compiler.compile(text)
            exceptions.append(compiled.predicate)
            intelListsRead.formUnion(compiled.intelTerms.flatMap(\.listsRead))
            regexes += compiled.regexes
            leaves += compiled.leaves
            nodes += compiled.nodes
          } catch { report(.error, error.location, hinted(error, text)) }
          if nodes > RuleLimits.maximumNodes {
            report(
              .error, location(item, file),
              "the condition and its exceptions expand to more than \(RuleLimits.maximumNodes) terms and operators")
            break
          }
        }
      } else {
        report(.error, location(node, file), "'exceptions' must be a list of conditions")
      }
    }
    let threshold = compileThreshold(body["threshold"], file, compiler)
    let beacon = compileBeacon(body["beacon"], file, compiler)
    let firstSeen = compileFirstSeen(body["first_seen"], file)
    if [threshold != nil, beacon != nil, firstSeen != nil].filter({ $0 }).count > 1 {
      report(.error, here, "a rule takes one of 'threshold', 'beacon' and 'first_seen'")
    }
    let grouping = threshold?.groupBy ?? beacon?.groupBy ?? firstSeen?.groupBy ?? []
    let groupingNode = (body["threshold"] ?? body["beacon"] ?? body["first_seen"])?.mapping?["group_by"]
    var suppressWindow = threshold?.windowNanoseconds ?? beacon?.suppressNanoseconds ?? 0
    var suppressBy = grouping
    if let node = body["suppress"] {
      if case .mapping(let mapping) = node {
        checkKeys(mapping, ["window", "by"], "suppress", file)
        if let window = mapping["window"] { suppressWindow = duration(window, file) ?? suppressWindow }
        if mapping["by"] != nil { suppressBy = stringList(mapping["by"], "by", file).map(\.0) }
      } else {
        report(.error, location(node, file), "'suppress' takes 'window' and 'by'")
      }
    }
    let groupFields = fields(grouping, groupingNode, file)
    let suppressByIndicator = suppressBy.contains(IntelTerm.suppressionKey)
    let suppressFields = fields(
      suppressBy.filter { $0 != IntelTerm.suppressionKey }, body["suppress"]?.mapping?["by"], file,
      allowing: [IntelTerm.suppressionKey])
    if suppressByIndicator && intelTerms.isEmpty, let node = body["suppress"] {
      report(.error, location(node, file), "suppress by 'indicator' needs a condition with 'field in <typed list>'")
    }
    var distinctField: Field?
    if let name = threshold?.measure.aggregatedField {
      distinctField = Fields.byName[name]
    } else if case .distinct(let name) = threshold?.measure {
      distinctField = Fields.byName[name]
      if distinctField == nil, let node = body["threshold"]?.mapping?["distinct"] {
        report(.error, location(node, file), "unknown field '\(name)' to count distinct values of")
      }
    }
    let output = compileOutput(body, file, events: events, default: name)
    let tests = compileTests(body["tests"], file, testEvents: &testEvents)
    var tags: [String] = []
    for (text, at) in stringList(body["tags"], "tags", file) where checkPrintable(text, at, "tags") {
      tags.append(text)
    }
    var references: [String] = []
    for (text, at) in stringList(body["references"], "references", file) where checkPrintable(text, at, "references") {
      references.append(text)
    }
    guard !diagnostics[errorsBefore...].contains(where: { $0.severity == .error }) else { return nil }
    var seenRegexes: Set<ObjectIdentifier> = []
    var rule = Rule(
      id: id, name: name, description: description, severity: severity,
      tags: tags, references: references,
      enabled: enabled, events: events, threshold: threshold, suppressWindowNanoseconds: suppressWindow,
      suppressBy: suppressBy, output: output, tests: tests, location: here, condition: condition,
      exceptions: exceptions, groupFields: groupFields, suppressFields: suppressFields, distinctField: distinctField)
    rule.beacon = beacon
    rule.firstSeen = firstSeen
    rule.firstSeenField = firstSeen.flatMap { Fields.byName[$0.field] }
    // A macro used twice is one compiled regex, whose limit hits count once for this rule.
    rule.regexes = regexes.filter { seenRegexes.insert(ObjectIdentifier($0)).inserted }
    var seenLeaves: Set<ObjectIdentifier> = []
    rule.regexLeaves = leaves.filter { seenLeaves.insert(ObjectIdentifier($0)).inserted }
    rule.gate = required.first
    rule.eventGate = eventGate
    rule.intelTerms = intelTerms
    rule.intelListsRead = intelListsRead
    rule.suppressByIndicator = suppressByIndicator
    return rule
  }

  private mutating func fields(_ names: [String], _ node: Node?, _ file: String, allowing: Set<String> = [])
    -> [Field]
  {
    var result: [Field] = []
    let items =
      node.map { stringList($0, "fields", file) } ?? names.map { ($0, SourceLocation(file: file, line: 1, column: 1)) }
    for (name, at) in items where !allowing.contains(name) {
      if let field = Fields.byName[name] { result.append(field) } else { report(.error, at, "unknown field '\(name)'") }
    }
    return result
  }

  mutating func duration(_ node: Node, _ file: String) -> Int64? {
    guard let text = node.string, let value = Duration.parse(text), value > 0 else {
      report(
        .error, location(node, file),
        "a duration is a whole number with ms, s, m, h or d, like 30s, of at most \(Duration.maximum / 86_400_000_000_000)d"
      )
      return nil
    }
    return value
  }

  private mutating func compileThreshold(_ node: Node?, _ file: String, _ compiler: ConditionCompiler) -> Threshold? {
    guard let node else { return nil }
    guard case .mapping(let mapping) = node else {
      report(.error, location(node, file), "'threshold' takes count, window, group_by and optionally distinct")
      return nil
    }
    if mapping["sum"] != nil || mapping["max"] != nil {
      return compileAggregateThreshold(mapping, node, file, compiler)
    }
    checkKeys(mapping, ["count", "distinct", "window", "group_by"], "threshold", file)
    guard let countNode = mapping["count"], let count = countNode.checkedInt,
      (1...RuleLimits.maximumThresholdCount).contains(count)
    else {
      report(
        .error, location(mapping["count"] ?? node, file),
        "'count' must be a whole number from 1 to \(RuleLimits.maximumThresholdCount)")
      return nil
    }
    guard let windowNode = mapping["window"], let window = duration(windowNode, file) else {
      if mapping["window"] == nil { report(.error, location(node, file), "a threshold needs 'window'") }
      return nil
    }
    let measure: Threshold.Measure = mapping["distinct"]?.string.map { .distinct(field: $0) } ?? .count
    return Threshold(
      measure: measure, atLeast: count, windowNanoseconds: window,
      groupBy: stringList(mapping["group_by"], "group_by", file).map(\.0))
  }
}

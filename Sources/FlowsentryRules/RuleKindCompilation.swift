import FlowsentryCore
import Foundation
import Yams

/// Compile: `threshold: {sum|max: FIELD, at_least: N}`, `beacon:` and `first_seen:`, every
/// number range-checked at its position.
extension RuleSetBuilder {
  mutating func compileAggregateThreshold(
    _ mapping: Node.Mapping, _ node: Node, _ file: String, _ compiler: ConditionCompiler
  ) -> Threshold? {
    checkKeys(mapping, ["sum", "max", "at_least", "window", "group_by"], "a sum or max threshold", file)
    if mapping["sum"] != nil && mapping["max"] != nil {
      report(.error, location(node, file), "a threshold takes 'sum' or 'max', not both")
      return nil
    }
    let isSum = mapping["sum"] != nil
    let fieldNode = (mapping["sum"] ?? mapping["max"])!
    guard let name = fieldNode.string, let field = Fields.byName[name], field.type == .integer else {
      let names = Fields.all.filter { $0.type == .integer }.map(\.name).joined(separator: ", ")
      report(
        .error, location(fieldNode, file),
        "'\(isSum ? "sum" : "max")' takes an integer field (\(names)); '\(fieldNode.string ?? "")' is not one")
      return nil
    }
    guard let limitNode = mapping["at_least"] else {
      report(.error, location(node, file), "a sum or max threshold needs 'at_least'")
      return nil
    }
    guard let limit = integerSetting(limitNode, file, compiler, in: 1...Int64.max, "at_least") else { return nil }
    guard let windowNode = mapping["window"], let window = duration(windowNode, file) else {
      if mapping["window"] == nil { report(.error, location(node, file), "a threshold needs 'window'") }
      return nil
    }
    return Threshold(
      measure: isSum ? .sum(field: field.name) : .maximum(field: field.name), atLeast: Int(limit),
      windowNanoseconds: window, groupBy: stringList(mapping["group_by"], "group_by", file).map(\.0))
  }

  /// A whole number (size units allowed: `1 GiB`) or the name of a list holding one, so that a user
  /// overrides a shipped threshold by redefining the list.
  mutating func integerSetting(
    _ node: Node, _ file: String, _ compiler: ConditionCompiler?, in range: ClosedRange<Int64>, _ key: String
  ) -> Int64? {
    var text = node.string ?? ""
    var at = location(node, file)
    if let list = lists[text] {
      compiler?.usedLists.insert(list.name)
      guard list.items.count == 1 else {
        report(.error, at, "list '\(text)' must hold exactly one number to be used as '\(key)'")
        return nil
      }
      (text, at) = (list.items[0].text, list.items[0].location)
    }
    guard let value = IntegerLiteral.parse(text), range.contains(value) else {
      report(
        .error, at,
        "'\(key)' must be a whole number (KiB, MiB, GiB or TiB allowed) from \(range.lowerBound) to \(range.upperBound), or a list holding one"
      )
      return nil
    }
    return value
  }

  mutating func compileBeacon(_ node: Node?, _ file: String, _ compiler: ConditionCompiler) -> BeaconRule? {
    guard let node else { return nil }
    guard case .mapping(let mapping) = node else {
      report(.error, location(node, file), "'beacon' takes group_by, min_connections, min_score, min_period, suppress")
      return nil
    }
    checkKeys(
      mapping, ["group_by", "min_connections", "min_score", "min_period", "suppress"], "beacon", file)
    var beacon = BeaconRule(groupBy: stringList(mapping["group_by"], "group_by", file).map(\.0))
    if beacon.groupBy.isEmpty { report(.error, location(node, file), "'beacon' needs 'group_by'") }
    if let count = mapping["min_connections"] {
      let range = Int64(BeaconRule.leastConnections)...Int64(RuleLimits.maximumThresholdCount)
      guard let value = integerSetting(count, file, compiler, in: range, "min_connections") else { return nil }
      beacon.minimumConnections = Int(value)
    }
    if let score = mapping["min_score"] {
      guard let value = score.string.flatMap(Double.init), (0.0...1.0).contains(value) else {
        report(.error, location(score, file), "'min_score' is a number from 0 to 1, like 0.8")
        return nil
      }
      beacon.minimumScore = value
    }
    if let period = mapping["min_period"] {
      guard let value = duration(period, file) else { return nil }
      beacon.minimumPeriodNanoseconds = value
    }
    if let window = mapping["suppress"] {
      guard let value = duration(window, file) else { return nil }
      beacon.suppressNanoseconds = value
    }
    return beacon
  }

  mutating func compileFirstSeen(_ node: Node?, _ file: String) -> FirstSeenRule? {
    guard let node else { return nil }
    guard case .mapping(let mapping) = node else {
      report(
        .error, location(node, file), "'first_seen' takes field, group_by, learning, max_values and max_total_values")
      return nil
    }
    checkKeys(
      mapping, ["field", "group_by", "learning", "max_values", "max_total_values", "prefix_v4", "prefix_v6"],
      "first_seen", file)
    guard let fieldNode = mapping["field"], let name = fieldNode.string, Fields.byName[name] != nil else {
      report(.error, location(mapping["field"] ?? node, file), "'first_seen' needs 'field', the name of a field")
      return nil
    }
    var rule = FirstSeenRule(field: name, groupBy: stringList(mapping["group_by"], "group_by", file).map(\.0))
    if let learning = mapping["learning"] {
      guard let value = duration(learning, file) else { return nil }
      rule.learningNanoseconds = value
    }
    if let values = mapping["max_values"] {
      let range = Int64(1)...Int64(FirstSeenRule.largestValueLimit)
      guard let value = integerSetting(values, file, nil, in: range, "max_values") else { return nil }
      rule.maximumValues = Int(value)
    }
    if let values = mapping["max_total_values"] {
      let range = Int64(rule.maximumValues)...Int64(RuleLimits.maximumFirstSeenValues)
      guard let value = integerSetting(values, file, nil, in: range, "max_total_values") else { return nil }
      rule.maximumTotalValues = Int(value)
    }
    for (key, bits) in [("prefix_v4", 32), ("prefix_v6", 128)] {
      guard let prefix = mapping[key] else { continue }
      guard Fields.byName[name]?.type == .address else {
        report(.error, location(prefix, file), "'\(key)' applies to address fields; '\(name)' is not one")
        return nil
      }
      guard let value = integerSetting(prefix, file, nil, in: 0...Int64(bits), key) else { return nil }
      if key == "prefix_v4" { rule.prefixV4 = Int(value) } else { rule.prefixV6 = Int(value) }
    }
    return rule
  }
}

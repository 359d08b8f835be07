import FlowsentryCore
import FlowsentryPatterns

/// Comparisons by field type: each operator checked against the field's type and values once, here.
extension ConditionCompiler {
  func compileComparison(
    _ field: Field, _ comparison: ComparisonOperator, _ value: ValueNode, _ source: ConditionText
  ) throws(CompileError) -> Predicate {
    warnIfNeverCaptured(field, comparison, value, source)
    if comparison == .in, case .word(let name, let offset) = value, let list = lists[name], list.intel != nil {
      return try intelTest(field, list, source, at: offset)
    }
    if comparison == .matches || comparison == .imatches, field.type == .string || field.type == .strings {
      // Through the leaf, which reads its field's pattern set once the rule set has one (RulePatterns.swift).
      let regex = try regexTest(field, comparison, value, source)
      let leaf = RegexLeaf(field: field, regex: regex, location: source.location(at: value.offset))
      regexLeaves.append(leaf)
      return { event in leaf.matches(event) }
    }
    if [.contains, .icontains, .startswith, .istartswith, .endswith, .iendswith].contains(comparison),
      field.type == .string || field.type == .strings
    {
      // Through the leaf, which reads its field's literal set once the rule set has one (RuleLiterals.swift).
      let oneByOne = try stringTest(field, comparison, value, source)
      var needles: [String]
      if case .string(let text, _) = value { needles = [text] } else { needles = try members(value, source).map(\.0) }
      let leaf = LiteralLeaf(field: field, comparison: comparison, needles: needles, oneByOne: oneByOne)
      literalLeaves.append(leaf)
      return { event in leaf.matches(event) }
    }
    switch field.accessor {
    case .string(let read):
      let test = try stringTest(field, comparison, value, source)
      return { event in read(event).map(test) ?? false }
    case .strings(let read):
      if comparison == .notEqual {
        let test = try stringTest(field, .equal, value, source)
        return { event in !read(event).contains(where: test) }
      }
      let test = try stringTest(field, comparison, value, source)
      return { event in read(event).contains(where: test) }
    case .integer(let read):
      let test = try integerTest(field, comparison, value, source)
      return { event in read(event).map(test) ?? false }
    case .address(let read):
      let test = try addressTest(field, comparison, value, source)
      return { event in read(event).map(test) ?? false }
    }
  }

  private func scalarText(_ value: ValueNode, _ source: ConditionText, _ field: Field) throws(CompileError) -> String {
    switch value {
    case .string(let text, _), .word(let text, _): return text
    case .set(_, let offset):
      throw fail(source, offset, "'\(field.name)' is compared with a single value here; use 'in' for a set")
    }
  }

  /// The values on the right of `in`: a literal set, or a named list.
  private func members(_ value: ValueNode, _ source: ConditionText) throws(CompileError) -> [(String, SourceLocation)] {
    switch value {
    case .set(let items, _):
      return items.map { item -> (String, SourceLocation) in
        switch item {
        case .string(let text, let offset), .word(let text, let offset): return (text, source.location(at: offset))
        case .set(_, let offset): return ("", source.location(at: offset))
        }
      }
    case .word(let name, let offset):
      guard let list = lists[name] else {
        throw fail(source, offset, "undefined list '\(name)' (write a literal set as (a, b) or define a list)")
      }
      if list.intel != nil {
        throw fail(source, offset, "'\(name)' is a typed list: it takes 'in' only ('field in \(name)')")
      }
      usedLists.insert(name)
      return list.items.map { ($0.text, $0.location) }
    case .string(_, let offset):
      throw fail(source, offset, "'in' takes a set in parentheses or a list name, not a string")
    }
  }

  private func stringTest(
    _ field: Field, _ comparison: ComparisonOperator, _ value: ValueNode, _ source: ConditionText
  ) throws(CompileError) -> (String) -> Bool {
    switch comparison {
    case .equal:
      let expected = try scalarText(value, source, field)
      return { $0 == expected }
    case .notEqual:
      let expected = try scalarText(value, source, field)
      return { $0 != expected }
    case .in:
      let values = try members(value, source).map(\.0)
      // Small sets (the usual case) are faster to scan than to hash.
      if values.count <= 8 { return { candidate in values.contains(candidate) } }
      let set = Set(values)
      return { set.contains($0) }
    case .contains, .icontains, .startswith, .istartswith, .endswith, .iendswith:
      // A quoted value is one needle; a set or a list name, several (any of them matches).
      var needles: [String]
      if case .string(let text, _) = value { needles = [text] } else { needles = try members(value, source).map(\.0) }
      if comparison.isCaseInsensitive {
        // Bytes with ASCII case folding on both sides (docs/RULES.md): no lowered copy of each candidate.
        let lowered = needles.map(ASCIICaseFolding.lowercased)
        let kind = comparison
        return { candidate in
          var candidate = candidate
          return candidate.withUTF8 { bytes in
            lowered.contains { needle in
              switch kind {
              case .istartswith: ASCIICaseFolding.hasPrefix(bytes, lowered: needle)
              case .iendswith: ASCIICaseFolding.hasSuffix(bytes, lowered: needle)
              default: ASCIICaseFolding.contains(bytes, lowered: needle)
              }
            }
          }
        }
      }
      // UTF-8 bytes, as the `i…` forms and literal sets compare (not Swift's canonical equivalence).
      let bytes = needles.map { Array($0.utf8) }
      let kind = comparison
      return { candidate in
        var candidate = candidate
        return candidate.withUTF8 { subject in
          bytes.contains { needle in
            guard needle.count <= subject.count else { return false }
            switch kind {
            case .startswith: return subject.prefix(needle.count).elementsEqual(needle)
            case .endswith: return subject.suffix(needle.count).elementsEqual(needle)
            default:
              return (0...(subject.count - needle.count)).contains {
                subject[$0..<($0 + needle.count)].elementsEqual(needle)
              }
            }
          }
        }
      }
    case .matches, .imatches:
      let regex = try regexTest(field, comparison, value, source)
      return { regex.matches($0) }
    case .less, .lessOrEqual, .greater, .greaterOrEqual:
      throw fail(
        source, value.offset, "'\(comparison.rawValue)' compares numbers; '\(field.name)' is \(field.type.withArticle)")
    }
  }

  private func regexTest(
    _ field: Field, _ comparison: ComparisonOperator, _ value: ValueNode, _ source: ConditionText
  ) throws(CompileError) -> PCRE2Regex {
    guard case .string(let pattern, let offset) = value else {
      throw fail(source, value.offset, "'\(comparison.rawValue)' takes a quoted regular expression")
    }
    let regex: PCRE2Regex
    do {
      regex = try PCRE2Regex(pattern, caseInsensitive: comparison == .imatches)
    } catch {
      // +1: the opening quote.
      // A pattern past PCRE2's size is nearly always a list of names or strings written as one
      // alternation: say what holds such a list instead.
      let hint =
        error.message.contains("too large")
        ? " (a long alternation of names or strings belongs in a typed list, 'type: domain' or 'type: string' "
          + "with '\(field.name) in LIST', or in a literal set: '\(field.name) endswith (a, b)', 'in (a, b)')" : ""
      throw fail(source, offset + 1 + error.offset, "bad regular expression: \(error.message)\(hint)")
    }
    warnIfMatchingEmpty(regex, field, comparison, at: offset, source)
    regexes.append(regex)
    return regex
  }

  /// A number or a range `low-high` for `in`, every bound within the field's range: a set member
  /// the field can never hold is a mistake, not a member that never matches.
  private func integer(_ text: String, _ location: SourceLocation, _ field: Field) throws(CompileError)
    -> ClosedRange<Int64>
  {
    let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
    let range: ClosedRange<Int64>
    if bounds.count == 2, let low = IntegerLiteral.parse(String(bounds[0])),
      let high = IntegerLiteral.parse(String(bounds[1])), low <= high
    {
      range = low...high
    } else if let value = IntegerLiteral.parse(text) {
      range = value...value
    } else {
      throw CompileError(
        location: location,
        message: "'\(field.name)' is an integer; '\(text)' is not a number or a range like 1000-2000")
    }
    guard field.range.contains(range.lowerBound), field.range.contains(range.upperBound) else {
      throw CompileError(location: location, message: outOfRange(text, field))
    }
    return range
  }

  private func outOfRange(_ text: String, _ field: Field) -> String {
    "'\(text)' is outside the values of '\(field.name)' (\(field.range.lowerBound) to \(field.range.upperBound))"
  }

  /// Comparisons that could never be true, or never false, with the field's values are errors:
  /// `dst_port == 70000` or `process.pid != -5` is a rule that does not do what it says.
  private func integerTest(
    _ field: Field, _ comparison: ComparisonOperator, _ value: ValueNode, _ source: ConditionText
  ) throws(CompileError) -> (Int64) -> Bool {
    if comparison == .in {
      let ranges = try members(value, source).map { item throws(CompileError) in try integer(item.0, item.1, field) }
      return { candidate in ranges.contains { $0.contains(candidate) } }
    }
    let text = try scalarText(value, source, field)
    guard let expected = IntegerLiteral.parse(text) else {
      throw fail(
        source, value.offset,
        "'\(field.name)' is an integer; '\(text)' is not a number (with KiB, MiB, GiB or TiB) within 64 bits")
    }
    let range = field.range
    let decided: Bool
    switch comparison {
    case .equal, .notEqual: decided = !range.contains(expected)
    case .less, .greaterOrEqual: decided = expected <= range.lowerBound || expected > range.upperBound
    case .lessOrEqual, .greater: decided = expected < range.lowerBound || expected >= range.upperBound
    default: decided = false
    }
    if decided {
      throw fail(
        source, value.offset,
        "'\(field.name) \(comparison.rawValue) \(text)' is decided before any event: '\(field.name)' holds "
          + "\(range.lowerBound) to \(range.upperBound)")
    }
    switch comparison {
    case .equal: return { $0 == expected }
    case .notEqual: return { $0 != expected }
    case .less: return { $0 < expected }
    case .lessOrEqual: return { $0 <= expected }
    case .greater: return { $0 > expected }
    case .greaterOrEqual: return { $0 >= expected }
    default:
      throw fail(source, value.offset, "'\(comparison.rawValue)' applies to strings; '\(field.name)' is an integer")
    }
  }

  private func addressTest(
    _ field: Field, _ comparison: ComparisonOperator, _ value: ValueNode, _ source: ConditionText
  ) throws(CompileError) -> (IPAddress) -> Bool {
    switch comparison {
    case .equal, .notEqual:
      let text = try scalarText(value, source, field)
      guard let expected = IPAddress(text) else {
        throw fail(source, value.offset, "'\(field.name)' is an address; '\(text)' is not an IPv4 or IPv6 address")
      }
      return comparison == .equal ? { $0 == expected } : { $0 != expected }
    case .in:
      let blocks = try members(value, source).map { item throws(CompileError) -> IPNetwork in
        guard let block = IPNetwork(item.0) else {
          throw CompileError(location: item.1, message: "'\(item.0)' is not an address or a CIDR block")
        }
        return block
      }
      return { address in blocks.contains { $0.contains(address) } }
    default:
      throw fail(source, value.offset, "'\(comparison.rawValue)' does not apply to addresses; use ==, != or in")
    }
  }
}

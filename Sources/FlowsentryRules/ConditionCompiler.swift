import FlowsentryCore

/// A compiled condition: decides whether an event matches.
typealias Predicate = (EventFields) -> Bool

/// A condition's text and where it sits in its file, to turn offsets into positions. A YAML scalar
/// may span lines (block or folded); each source line's text starts a segment of the value.
struct ConditionText: Sendable {
  var text: String
  /// (offset in `text` where a source line's content starts, where that content is in the file)
  var segments: [(offset: Int, location: SourceLocation)]

  func location(at offset: Int) -> SourceLocation {
    let segment = segments.last { $0.offset <= offset } ?? segments[0]
    var location = segment.location
    location.column += offset - segment.offset
    return location
  }
}

/// A compile error, positioned in a file.
struct CompileError: Error {
  var location: SourceLocation
  var message: String
}

struct ListDefinition {
  var name: String
  var items: [(text: String, location: SourceLocation)]
  var location: SourceLocation
}

struct MacroDefinition {
  var name: String
  var condition: ConditionText
  var location: SourceLocation
}

/// A condition compiled: its predicate, how many nodes and how deep it is with its macros expanded
/// (what evaluating it costs), and the regexes in it.
struct CompiledCondition {
  var predicate: Predicate
  var nodes: Int
  var depth: Int
  var regexes: [PCRE2Regex]
}

/// Type-checks a condition tree against the field catalogue and turns it into closures. Regexes
/// are compiled here, once; unknown fields, wrong types, bad regexes and undefined lists or macros
/// are errors here, never at run time. Each macro is compiled once, at its first use, and its
/// predicate shared by every use; its size counts at every use, against `RuleLimits.maximumNodes`.
final class ConditionCompiler {
  private let lists: [String: ListDefinition]
  private let macros: [String: MacroDefinition]
  private(set) var usedLists: Set<String> = []
  private(set) var usedMacros: Set<String> = []
  private var expanding: [String] = []
  private var compiledMacros: [String: Result<CompiledCondition, CompileError>] = [:]
  /// Regexes compiled so far, each once (a macro's are compiled with the macro).
  private var regexes: [PCRE2Regex] = []

  init(lists: [String: ListDefinition], macros: [String: MacroDefinition]) {
    self.lists = lists
    self.macros = macros
  }

  /// A rule's condition or exception, checked against the limits as expanded.
  func compile(_ source: ConditionText) throws(CompileError) -> CompiledCondition {
    let compiled = try compileTree(source)
    guard compiled.nodes <= RuleLimits.maximumNodes else {
      throw CompileError(
        location: source.location(at: 0),
        message:
          "the condition expands to \(compiled.nodes) terms and operators with its macros, more than \(RuleLimits.maximumNodes)"
      )
    }
    return compiled
  }

  /// A macro, compiled at its first use (or here) and kept.
  func compileMacro(_ name: String, at location: SourceLocation) throws(CompileError) -> CompiledCondition {
    guard let macro = macros[name] else {
      let hint = Fields.byName[name] != nil ? " ('\(name)' is a field: compare it with an operator)" : ""
      throw CompileError(location: location, message: "undefined macro '\(name)'\(hint)")
    }
    usedMacros.insert(name)
    if let known = compiledMacros[name] { return try known.get() }
    guard !expanding.contains(name) else {
      throw CompileError(
        location: location,
        message: "macro '\(name)' refers to itself (\((expanding + [name]).joined(separator: " → ")))")
    }
    // Each macro in a chain adds a level, so a chain longer than the depth limit fails anyway; the
    // check here keeps the compiler's own recursion bounded before that is known.
    guard expanding.count < RuleLimits.maximumDepth else {
      throw CompileError(
        location: location, message: "macros use each other more than \(RuleLimits.maximumDepth) deep")
    }
    expanding.append(name)
    defer { expanding.removeLast() }
    let result: Result<CompiledCondition, CompileError>
    do { result = .success(try compileTree(macro.condition)) } catch { result = .failure(error) }
    compiledMacros[name] = result
    return try result.get()
  }

  private func compileTree(_ source: ConditionText) throws(CompileError) -> CompiledCondition {
    let node: ConditionNode
    do {
      node = try ConditionParser.parse(source.text)
    } catch {
      throw CompileError(location: source.location(at: error.offset), message: error.message)
    }
    return try compile(node, source)
  }

  private func compile(_ node: ConditionNode, _ source: ConditionText) throws(CompileError) -> CompiledCondition {
    switch node {
    case .all(let terms), .any(let terms):
      var parts: [CompiledCondition] = []
      for term in terms { parts.append(try compile(term, source)) }
      let isAll = if case .all = node { true } else { false }
      return try combine(parts, all: isAll, source)
    case .not(let inner):
      let compiled = try compile(inner, source)
      let predicate = compiled.predicate
      return try checked(
        CompiledCondition(
          predicate: { !predicate($0) }, nodes: compiled.nodes &+ 1, depth: compiled.depth + 1,
          regexes: compiled.regexes), source)
    case .macro(let name, let offset):
      let macro = try compileMacro(name, at: source.location(at: offset))
      return try checked(macro, source, at: offset)
    case .comparison(let fieldName, let fieldOffset, let comparison, let value):
      guard let field = Fields.byName[fieldName] else {
        let known = Fields.all.map(\.name)
        let nearest = known.min { editDistance($0, fieldName) < editDistance($1, fieldName) }
        let hint = nearest.flatMap { editDistance($0, fieldName) <= 2 ? "; did you mean '\($0)'?" : nil } ?? ""
        throw CompileError(
          location: source.location(at: fieldOffset),
          message: "unknown field '\(fieldName)'\(hint) (fields: \(known.joined(separator: ", ")))")
      }
      let regexesBefore = regexes.count
      let predicate = try compileComparison(field, comparison, value, source)
      return CompiledCondition(
        predicate: predicate, nodes: 1, depth: 1, regexes: Array(regexes[regexesBefore...]))
    }
  }

  /// `and`/`or` of several terms as a balanced tree of two-way closures: evaluation nests as deep
  /// as the logarithm of the terms, and each call stays a direct closure call.
  private func combine(_ parts: [CompiledCondition], all: Bool, _ source: ConditionText) throws(CompileError)
    -> CompiledCondition
  {
    func tree(_ slice: ArraySlice<CompiledCondition>) -> Predicate {
      if slice.count == 1 { return slice.first!.predicate }
      let middle = slice.startIndex + slice.count / 2
      let left = tree(slice[..<middle])
      let right = tree(slice[middle...])
      return all ? { left($0) && right($0) } : { left($0) || right($0) }
    }
    let nodes = parts.reduce(parts.count - 1) { $0 &+ $1.nodes }
    let depth = (parts.map(\.depth).max() ?? 0) + 1
    return try checked(
      CompiledCondition(predicate: tree(parts[...]), nodes: nodes, depth: depth, regexes: parts.flatMap(\.regexes)),
      source)
  }

  /// Stops a tree past the limits as soon as it grows past them (a macro used twice per level
  /// doubles at each level): the error is at the node where it happened.
  private func checked(_ compiled: CompiledCondition, _ source: ConditionText, at offset: Int = 0) throws(CompileError)
    -> CompiledCondition
  {
    if compiled.depth > RuleLimits.maximumExpandedDepth {
      throw fail(
        source, offset,
        "the condition nests deeper than \(RuleLimits.maximumExpandedDepth) levels with its macros expanded")
    }
    if compiled.nodes > RuleLimits.maximumNodes {
      throw fail(
        source, offset,
        "the condition expands to more than \(RuleLimits.maximumNodes) terms and operators with its macros")
    }
    return compiled
  }

  private func fail(_ source: ConditionText, _ offset: Int, _ message: String) -> CompileError {
    CompileError(location: source.location(at: offset), message: message)
  }

  // MARK: - Comparisons by field type

  private func compileComparison(
    _ field: Field, _ comparison: ComparisonOperator, _ value: ValueNode, _ source: ConditionText
  ) throws(CompileError) -> Predicate {
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
      let insensitive = comparison.isCaseInsensitive
      var needles: [String]
      if case .string(let text, _) = value { needles = [text] } else { needles = try members(value, source).map(\.0) }
      if insensitive { needles = needles.map { $0.lowercased() } }
      if insensitive {
        // Compare bytes with ASCII case folding: no lowercased copy of each candidate.
        let folded = needles.map { Array($0.utf8) }
        let kind = comparison
        return { candidate in
          var candidate = candidate
          return candidate.withUTF8 { bytes in
            folded.contains { needle in ASCIIFolding.test(kind, bytes, needle) }
          }
        }
      }
      switch comparison {
      case .contains: return { candidate in needles.contains { candidate.contains($0) } }
      case .startswith: return { candidate in needles.contains { candidate.hasPrefix($0) } }
      default: return { candidate in needles.contains { candidate.hasSuffix($0) } }
      }
    case .matches, .imatches:
      guard case .string(let pattern, let offset) = value else {
        throw fail(source, value.offset, "'\(comparison.rawValue)' takes a quoted regular expression")
      }
      let regex: PCRE2Regex
      do {
        regex = try PCRE2Regex(pattern, caseInsensitive: comparison == .imatches)
      } catch {
        // +1: the opening quote.
        throw fail(source, offset + 1 + error.offset, "bad regular expression: \(error.message)")
      }
      regexes.append(regex)
      return { regex.matches($0) }
    case .less, .lessOrEqual, .greater, .greaterOrEqual:
      throw fail(
        source, value.offset, "'\(comparison.rawValue)' compares numbers; '\(field.name)' is a \(field.type.rawValue)")
    }
  }

  /// A number or a range `low-high` for `in`, every bound within the field's range: a set member
  /// the field can never hold is a mistake, not a member that never matches.
  private func integer(_ text: String, _ location: SourceLocation, _ field: Field) throws(CompileError)
    -> ClosedRange<Int64>
  {
    let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
    let range: ClosedRange<Int64>
    if bounds.count == 2, let low = Int64(bounds[0]), let high = Int64(bounds[1]), low <= high {
      range = low...high
    } else if let value = Int64(text) {
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
    guard let expected = Int64(text) else {
      throw fail(source, value.offset, "'\(field.name)' is an integer; '\(text)' is not a number")
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

/// Case-insensitive substring tests over UTF-8 bytes, folding ASCII letters only (domain names
/// and process names are ASCII; other bytes must match exactly).
enum ASCIIFolding {
  @inline(__always)
  static func fold(_ byte: UInt8) -> UInt8 { byte &- 65 < 26 ? byte | 0x20 : byte }

  static func equal(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, _ needle: [UInt8]) -> Bool {
    for index in needle.indices where fold(bytes[start + index]) != needle[index] { return false }
    return true
  }

  static func test(_ comparison: ComparisonOperator, _ bytes: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
    guard needle.count <= bytes.count else { return false }
    switch comparison {
    case .istartswith: return equal(bytes, at: 0, needle)
    case .iendswith: return equal(bytes, at: bytes.count - needle.count, needle)
    default: return (0...(bytes.count - needle.count)).contains { equal(bytes, at: $0, needle) }
    }
  }
}

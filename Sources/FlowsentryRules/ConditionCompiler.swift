import FlowsentryCore
import FlowsentryPatterns
import Synchronization

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
  /// A typed (threat-intel) list: its declaration, then once loaded its sets (RuleIntelLists.swift).
  var intel: IntelListDeclaration? = nil
}

struct MacroDefinition {
  var name: String
  var condition: ConditionText
  var location: SourceLocation
  /// `deprecated:` why the macro is kept and what to use: each use is a warning saying so, and the
  /// macro unused is none (kept for rules written before, not a mistake of the file defining it).
  var deprecated: String? = nil
}

/// A condition compiled: its predicate, how many nodes and how deep it is with its macros expanded
/// (what evaluating it costs), and the regexes in it.
struct CompiledCondition {
  var predicate: Predicate
  var nodes: Int
  var depth: Int
  var regexes: [PCRE2Regex]
  /// The regex tests in it, and those among them that must match for it to be true (the terms of
  /// an `and`, not those under `or` or `not`): an event none of those match cannot match it.
  var leaves: [RegexLeaf] = []
  var required: [RegexLeaf] = []
  /// The intel-list terms that can decide a match (not under `not`), to name the indicator in the alert.
  var intelTerms: [IntelTerm] = []
  /// The direction or close-reason test evaluated first, which the condition cannot be true without
  /// (RuleEventGate.swift).
  var gate: EventGate? = nil
}

/// Type-checks a condition tree against the field catalogue and turns it into closures. Regexes
/// are compiled here, once; unknown fields, wrong types, bad regexes and undefined lists or macros
/// are errors here, never at run time. Each macro is compiled once, at its first use, and its
/// predicate shared by every use; its size counts at every use, against `RuleLimits.maximumNodes`.
final class ConditionCompiler {
  let lists: [String: ListDefinition]
  private let macros: [String: MacroDefinition]
  var usedLists: Set<String> = []
  private(set) var usedMacros: Set<String> = []
  private var expanding: [String] = []
  private var compiledMacros: [String: Result<CompiledCondition, CompileError>] = [:]
  /// Whether the compilation under way cut a chain of macros at the depth limit.
  private var chainCut = false
  /// Regexes compiled so far, each once (a macro's are compiled with the macro).
  var regexes: [PCRE2Regex] = []
  /// Regex tests compiled so far, one per regex.
  var regexLeaves: [RegexLeaf] = []
  /// Literal tests compiled so far (their sets are built per load, not per rule).
  var literalLeaves: [LiteralLeaf] = []
  /// Intel-list terms compiled so far, as `regexes`.
  var intelTerms: [IntelTerm] = []
  /// Warnings found compiling (ConditionWarnings.swift), each once, for the builder to take.
  var warnings: [CompileError] = []
  var warned: Set<String> = []

  init(lists: [String: ListDefinition], macros: [String: MacroDefinition]) {
    self.lists = lists
    self.macros = macros
  }

  /// A rule's condition or exception; past a limit (`checked`), an error at the node that passed it.
  func compile(_ source: ConditionText) throws(CompileError) -> CompiledCondition {
    chainCut = false
    return try compileTree(source)
  }

  /// A macro, compiled at its first use (or here) and kept.
  func compileMacro(_ name: String, at location: SourceLocation, checkingOnly: Bool = false) throws(CompileError)
    -> CompiledCondition
  {
    guard let macro = macros[name] else {
      let hint = Fields.byName[name] != nil ? " ('\(name)' is a field: compare it with an operator)" : ""
      throw CompileError(location: location, message: "undefined macro '\(name)'\(hint)")
    }
    if let reason = macro.deprecated, !checkingOnly {
      warnings.append(CompileError(location: location, message: "macro '\(name)' is deprecated: \(reason)"))
    }
    usedMacros.insert(name)
    if let known = compiledMacros[name] { return try known.get() }
    guard !expanding.contains(name) else {
      throw CompileError(
        location: location,
        message: "macro '\(name)' refers to itself (\((expanding + [name]).joined(separator: " → ")))")
    }
    // A chain of macros each using the next recurses through the compiler before any size is
    // known: cut here. Where a chain is cut depends on where it was entered, so the macros it
    // passed through are not remembered as failed.
    if expanding.isEmpty { chainCut = false }
    guard expanding.count < RuleLimits.maximumDepth else {
      chainCut = true
      throw CompileError(
        location: location, message: "macros use each other more than \(RuleLimits.maximumDepth) deep")
    }
    expanding.append(name)
    defer { expanding.removeLast() }
    let result: Result<CompiledCondition, CompileError>
    do {
      var compiled = try compileTree(macro.condition)
      // A macro used by many rules (`remote_is_home`) is evaluated once per event. Not one with a
      // regex test: each use counts the regex limit hits it meets, as if evaluated alone.
      if compiled.leaves.isEmpty { compiled.predicate = MacroAnswer.memoized(compiled.predicate) }
      result = .success(compiled)
    } catch { result = .failure(error) }
    if !chainCut { compiledMacros[name] = result }
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
          regexes: compiled.regexes, leaves: compiled.leaves), source)
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
      let leavesBefore = regexLeaves.count
      let termsBefore = intelTerms.count
      let predicate = try compileComparison(field, comparison, value, source)
      let leaves = Array(regexLeaves[leavesBefore...])
      let terms = Array(intelTerms[termsBefore...])
      var gate: EventGate?
      if let gated = EventGate.field(named: field.name), leaves.isEmpty, terms.isEmpty {
        gate = EventGate(field: gated, predicate: predicate)
      }
      return CompiledCondition(
        predicate: predicate, nodes: 1, depth: 1, regexes: Array(regexes[regexesBefore...]), leaves: leaves,
        required: leaves, intelTerms: terms, gate: gate)
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
    var intelTerms = parts.flatMap(\.intelTerms)
    if all && !intelTerms.isEmpty {
      // A term under this `and` decides an alert only where the `and` holds (IntelTerm.conjuncts):
      // one check shared by its terms, answered once an event, so a flat `and` of many list tests
      // costs one closure each, not one per sibling. The term's own operand is in it: it holds
      // whenever the term is listed and the `and`s under it hold.
      let operands = parts.filter { $0.leaves.isEmpty }.map(\.predicate)
      let holds = MacroAnswer.memoized { event in operands.allSatisfy { $0(event) } }
      for index in intelTerms.indices { intelTerms[index].conjuncts.append(holds) }
    }
    return try checked(
      CompiledCondition(
        predicate: tree(parts[...]), nodes: nodes, depth: depth, regexes: parts.flatMap(\.regexes),
        leaves: parts.flatMap(\.leaves), required: all ? parts.flatMap(\.required) : [],
        // The first term is evaluated first (the leftmost leaf of the tree): its gate is the whole's.
        intelTerms: intelTerms, gate: all ? parts.first?.gate : nil),
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

  func fail(_ source: ConditionText, _ offset: Int, _ message: String) -> CompileError {
    CompileError(location: source.location(at: offset), message: message)
  }
}

/// A macro's answer for the event loaded last (`EventFields.generation`), packed with that
/// generation in one word, so that an engine on another thread (rule tests run in parallel) reads
/// either its own event's answer or none, never half of another's.
final class MacroAnswer: Sendable {
  private let packed = Atomic<UInt64>(0)

  static func memoized(_ predicate: @escaping Predicate) -> Predicate {
    let answer = MacroAnswer()
    return { event in
      let known = answer.packed.load(ordering: .relaxed)
      if known >> 1 == event.generation { return known & 1 == 1 }
      let result = predicate(event)
      answer.packed.store(event.generation << 1 | (result ? 1 : 0), ordering: .relaxed)
      return result
    }
  }
}

import FlowsentryCore
import Foundation
import Yams

/// The rules that were loaded, and what was found wrong or odd on the way.
public struct RuleSet: @unchecked Sendable {
  public var rules: [Rule]
  /// Warnings (unused lists and macros, overrides); errors make loading throw instead.
  public var warnings: [Diagnostic]
  public var files: [String]
  public var regexCount: Int

  public static let empty = RuleSet(rules: [], warnings: [], files: [], regexCount: 0)
}

/// Every error found while loading, not just the first.
public struct RuleLoadError: Error, CustomStringConvertible {
  public var diagnostics: [Diagnostic]
  public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

/// A rule file's text and the name diagnostics and `rules list` give it.
public struct RuleSource: Sendable {
  public var name: String
  public var text: String

  public init(name: String, text: String) {
    self.name = name
    self.text = text
  }
}

/// parse (YAML, with positions) → collect (lists, macros, rules; later files override earlier ones)
/// → compile (conditions, thresholds, templates, tests), reporting every problem at its position.
public enum RuleLoader {
  /// The shipped rule files, built into the binary.
  public static let builtInRules: [RuleSource] = DefaultRules.files
  /// Where an administrator's own rule files go; loaded after the built-in ones when present.
  public static let systemDirectory = "/etc/flowsentry/rules.d"

  /// The chain `monitor` and `rules` load: the built-in rules (unless `builtIn` is false), then
  /// `systemDirectory` when it exists, then `paths`; each may override lists and disable rules of
  /// the ones before.
  public static func loadChain(
    builtIn: Bool = true, systemDirectory: String? = RuleLoader.systemDirectory, paths: [String]
  ) throws(RuleLoadError) -> RuleSet {
    var chain: [String] = []
    var isDirectory: ObjCBool = false
    if let systemDirectory, FileManager.default.fileExists(atPath: systemDirectory, isDirectory: &isDirectory),
      isDirectory.boolValue
    {
      chain.append(systemDirectory)
    }
    return try load(sources: builtIn ? builtInRules : [], paths: chain + paths)
  }

  /// Loads rule files and directories (their *.yaml and *.yml, in name order), in the order given.
  public static func load(paths: [String]) throws(RuleLoadError) -> RuleSet {
    try load(sources: [], paths: paths)
  }

  /// Loads in-memory sources first, then files and directories, in the order given.
  public static func load(sources builtIn: [RuleSource], paths: [String]) throws(RuleLoadError) -> RuleSet {
    var files: [String] = []
    var diagnostics: [Diagnostic] = []
    for path in paths {
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        diagnostics.append(Diagnostic(.error, file: path, line: 1, column: 1, message: "no such file or directory"))
        continue
      }
      if isDirectory.boolValue {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        files += entries.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { path + "/" + $0 }
      } else {
        files.append(path)
      }
    }
    var sources: [(file: String, text: String)] = builtIn.map { ($0.name, $0.text) }
    for file in files {
      guard let data = FileManager.default.contents(atPath: file) else {
        diagnostics.append(Diagnostic(.error, file: file, line: 1, column: 1, message: "cannot read the file"))
        continue
      }
      sources.append((file, String(decoding: data, as: UTF8.self)))
    }
    var builder = RuleSetBuilder()
    builder.diagnostics = diagnostics
    for source in sources { builder.collect(file: source.file, text: source.text) }
    let ruleSet = builder.compile(files: builtIn.map(\.name) + files)
    guard !builder.diagnostics.contains(where: { $0.severity == .error }) else {
      throw RuleLoadError(diagnostics: builder.sortedDiagnostics)
    }
    return ruleSet
  }

  /// Loads rules from text, for tests and tools.
  public static func load(text: String, file: String = "<rules>") throws(RuleLoadError) -> RuleSet {
    var builder = RuleSetBuilder()
    builder.collect(file: file, text: text)
    let ruleSet = builder.compile(files: [file])
    guard !builder.diagnostics.contains(where: { $0.severity == .error }) else {
      throw RuleLoadError(diagnostics: builder.sortedDiagnostics)
    }
    return ruleSet
  }
}

struct RuleSetBuilder {
  var diagnostics: [Diagnostic] = []
  private var sourceLines: [String: [String]] = [:]
  private var lists: [String: ListDefinition] = [:]
  private var macros: [String: MacroDefinition] = [:]
  private var ruleNodes: [(file: String, node: Node.Mapping, location: SourceLocation)] = []
  private var enabledOverrides: [String: (Bool, SourceLocation)] = [:]

  // MARK: - Diagnostics

  /// In file order, then by position: the order an editor lists them.
  var sortedDiagnostics: [Diagnostic] {
    let fileOrder = Dictionary(sourceLines.keys.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    return diagnostics.enumerated().sorted { left, right in
      let a = left.element
      let b = right.element
      if a.file != b.file { return (fileOrder[a.file] ?? -1, a.file) < (fileOrder[b.file] ?? -1, b.file) }
      if (a.line, a.column) != (b.line, b.column) { return (a.line, a.column) < (b.line, b.column) }
      return left.offset < right.offset
    }.map(\.element)
  }

  mutating func report(_ severity: Diagnostic.Severity, _ location: SourceLocation, _ message: String) {
    let line = sourceLines[location.file].flatMap {
      $0.indices.contains(location.line - 1) ? $0[location.line - 1] : nil
    }
    diagnostics.append(
      Diagnostic(
        severity, file: location.file, line: location.line, column: location.column, message: message, sourceLine: line)
    )
  }

  func location(_ node: Node, _ file: String) -> SourceLocation {
    SourceLocation(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
  }

  // MARK: - Collect

  mutating func collect(file: String, text: String) {
    sourceLines[file] = text.components(separatedBy: "\n")
    let root: Node?
    do {
      root = try Yams.compose(yaml: text)
    } catch let error as YamlError {
      report(.error, yamlErrorLocation(error, file), "YAML: \(yamlErrorMessage(error))")
      return
    } catch {
      report(.error, SourceLocation(file: file, line: 1, column: 1), "YAML: \(error)")
      return
    }
    guard let root else { return }
    guard case .sequence(let items) = root else {
      report(.error, location(root, file), "a rule file is a list of items: '- rule:', '- list:' or '- macro:'")
      return
    }
    for item in items {
      guard case .mapping(let mapping) = item, mapping.count == 1, let (key, value) = mapping.first,
        let kind = key.string, ["rule", "list", "macro"].contains(kind)
      else {
        report(.error, location(item, file), "expected one of 'rule:', 'list:' or 'macro:'")
        continue
      }
      guard case .mapping(let body) = value else {
        report(.error, location(value, file), "'\(kind)' takes a mapping of keys")
        continue
      }
      switch kind {
      case "list": collectList(body, file)
      case "macro": collectMacro(body, file)
      default: collectRule(body, file, location(value, file))
      }
    }
  }

  private func yamlErrorLocation(_ error: YamlError, _ file: String) -> SourceLocation {
    switch error {
    case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
      return SourceLocation(file: file, line: mark.line, column: mark.column)
    default:
      return SourceLocation(file: file, line: 1, column: 1)
    }
  }

  private func yamlErrorMessage(_ error: YamlError) -> String {
    switch error {
    case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _):
      return [context?.text, problem].compactMap { $0 }.joined(separator: ": ")
    case .composer(let context, let problem, _, _):
      return [context?.text, problem].compactMap { $0 }.joined(separator: ": ")
    default:
      return "\(error)"
    }
  }

  /// Checks keys against the allowed ones; suggests the nearest for a typo.
  mutating func checkKeys(_ mapping: Node.Mapping, _ allowed: [String], _ what: String, _ file: String) {
    for (key, _) in mapping {
      guard let name = key.string, !allowed.contains(name) else { continue }
      let nearest = allowed.min { editDistance($0, name) < editDistance($1, name) }
      let hint = nearest.map { editDistance($0, name) <= 2 ? "; did you mean '\($0)'?" : "" } ?? ""
      report(
        .error, location(key, file),
        "unknown key '\(name)' in \(what)\(hint) (keys: \(allowed.joined(separator: ", ")))")
    }
  }

  mutating func requiredString(
    _ mapping: Node.Mapping, _ key: String, _ what: String, _ file: String, at: SourceLocation
  )
    -> String?
  {
    guard let node = mapping[key] else {
      report(.error, at, "\(what) needs '\(key)'")
      return nil
    }
    guard let text = node.scalar?.string, !text.isEmpty else {
      report(.error, location(node, file), "'\(key)' must be a non-empty string")
      return nil
    }
    return text
  }

  mutating func stringList(_ node: Node?, _ key: String, _ file: String) -> [(String, SourceLocation)] {
    guard let node else { return [] }
    guard case .sequence(let items) = node else {
      report(.error, location(node, file), "'\(key)' must be a list")
      return []
    }
    return items.compactMap { item in
      guard let text = item.scalar?.string else {
        report(.error, location(item, file), "items of '\(key)' must be scalars")
        return nil
      }
      return (text, location(item, file))
    }
  }

  private mutating func collectList(_ body: Node.Mapping, _ file: String) {
    let here = location(.mapping(body), file)
    checkKeys(body, ["name", "items", "append"], "a list", file)
    guard let name = requiredString(body, "name", "a list", file, at: here) else { return }
    let items = stringList(body["items"], "items", file)
    if body["append"]?.bool == true, var existing = lists[name] {
      existing.items += items.map { (text: $0.0, location: $0.1) }
      lists[name] = existing
    } else {
      lists[name] = ListDefinition(name: name, items: items.map { (text: $0.0, location: $0.1) }, location: here)
    }
  }

  private mutating func collectMacro(_ body: Node.Mapping, _ file: String) {
    let here = location(.mapping(body), file)
    checkKeys(body, ["name", "condition"], "a macro", file)
    guard let name = requiredString(body, "name", "a macro", file, at: here) else { return }
    guard let condition = conditionText(body["condition"], "condition", file, at: here) else { return }
    macros[name] = MacroDefinition(name: name, condition: condition, location: here)
  }

  static let ruleKeys = [
    "id", "name", "description", "severity", "tags", "references", "enabled", "events", "condition", "threshold",
    "suppress", "output", "exceptions", "tests",
  ]

  private mutating func collectRule(_ body: Node.Mapping, _ file: String, _ here: SourceLocation) {
    checkKeys(body, Self.ruleKeys, "a rule", file)
    // `- rule: {id: X, enabled: false}` in a user's file turns a shipped rule off.
    let keys = Set(body.keys.compactMap(\.string))
    if keys == ["id", "enabled"], let id = body["id"]?.string {
      guard let enabled = body["enabled"]?.bool else {
        report(.error, location(body["enabled"]!, file), "'enabled' must be true or false")
        return
      }
      enabledOverrides[id] = (enabled, here)
      return
    }
    ruleNodes.append((file, body, here))
  }

  /// The text of a condition scalar, with the positions of its source lines.
  mutating func conditionText(_ node: Node?, _ key: String, _ file: String, at: SourceLocation) -> ConditionText? {
    guard let node else {
      report(.error, at, "needs '\(key)'")
      return nil
    }
    guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
      report(.error, location(node, file), "'\(key)' must be a non-empty string")
      return nil
    }
    let mark = location(node, file)
    let lines = sourceLines[file] ?? []
    let length = scalar.string.unicodeScalars.count
    var segments: [(offset: Int, location: SourceLocation)] = []
    var offset = 0
    var lineIndex = mark.line - 1  // 0-based index of the mark's line
    switch scalar.style {
    case .literal, .folded:
      lineIndex += 1  // the value starts on the line after '|' or '>'
    default:
      // Plain or quoted: the value starts at the mark (after the opening quote).
      let quoted = scalar.style != .plain
      let column = mark.column + (quoted ? 1 : 0)
      segments.append((0, SourceLocation(file: file, line: mark.line, column: column)))
      let firstLine = lines.indices.contains(lineIndex) ? lines[lineIndex] : ""
      offset = max(0, firstLine.unicodeScalars.count - (column - 1)) + 1
      lineIndex += 1
    }
    // Each following source line with content is the next piece of the value, joined by a newline
    // (literal) or a space (folded, plain): one character either way.
    while offset < length && lineIndex < lines.count {
      let line = lines[lineIndex]
      let content = line.drop { $0 == " " || $0 == "\t" }
      if !content.isEmpty {
        let indentation = line.unicodeScalars.count - content.unicodeScalars.count
        segments.append((offset, SourceLocation(file: file, line: lineIndex + 1, column: indentation + 1)))
        offset += content.unicodeScalars.count + 1
      }
      lineIndex += 1
    }
    if segments.isEmpty { segments = [(0, mark)] }
    return ConditionText(text: scalar.string, segments: segments)
  }

  // MARK: - Compile

  mutating func compile(files: [String]) -> RuleSet {
    let compiler = ConditionCompiler(lists: lists, macros: macros)
    var rules: [Rule] = []
    var seen: [String: SourceLocation] = [:]
    for (file, body, here) in ruleNodes {
      let regexesBefore = compiler.regexes.count
      guard var rule = compileRule(body, file, here, compiler) else { continue }
      rule.regexes = Array(compiler.regexes[regexesBefore...])
      if let previous = seen[rule.id] {
        report(.error, here, "duplicate rule id '\(rule.id)' (first defined at \(previous.file):\(previous.line))")
        continue
      }
      seen[rule.id] = here
      rules.append(rule)
    }
    for (id, (enabled, location)) in enabledOverrides {
      if let index = rules.firstIndex(where: { $0.id == id }) {
        rules[index].enabled = enabled
      } else {
        report(.error, location, "no rule with id '\(id)' to enable or disable")
      }
    }
    for macro in macros.values.sorted(by: { $0.name < $1.name }) where !compiler.usedMacros.contains(macro.name) {
      // A macro no rule uses is still checked, so that its mistakes show before it is used.
      do { _ = try compiler.compile(macro.condition) } catch { report(.error, error.location, error.message) }
      report(.warning, macro.location, "macro '\(macro.name)' is not used")
    }
    for list in lists.values.sorted(by: { $0.name < $1.name }) where !compiler.usedLists.contains(list.name) {
      report(.warning, list.location, "list '\(list.name)' is not used")
    }
    return RuleSet(
      rules: rules, warnings: diagnostics.filter { $0.severity == .warning }, files: files,
      regexCount: compiler.regexCount)
  }

  private mutating func compileRule(
    _ body: Node.Mapping, _ file: String, _ here: SourceLocation, _ compiler: ConditionCompiler
  ) -> Rule? {
    let errorsBefore = diagnostics.count
    let id = requiredString(body, "id", "a rule", file, at: here) ?? ""
    let name = requiredString(body, "name", "a rule", file, at: here) ?? id
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
    if let text = conditionText(body["condition"], "condition", file, at: here) {
      do { condition = try compiler.compile(text) } catch { report(.error, error.location, error.message) }
    }
    var exceptions: [Predicate] = []
    if let node = body["exceptions"] {
      if case .sequence(let items) = node {
        for item in items {
          let conditionNode: Node? = item.scalar != nil ? item : item.mapping?["condition"]
          if case .mapping(let mapping) = item { checkKeys(mapping, ["name", "condition"], "an exception", file) }
          guard let text = conditionText(conditionNode, "condition", file, at: location(item, file)) else { continue }
          do { exceptions.append(try compiler.compile(text)) } catch { report(.error, error.location, error.message) }
        }
      } else {
        report(.error, location(node, file), "'exceptions' must be a list of conditions")
      }
    }
    let threshold = compileThreshold(body["threshold"], file)
    var suppressWindow = threshold?.windowNanoseconds ?? 0
    var suppressBy = threshold?.groupBy ?? []
    if let node = body["suppress"] {
      if case .mapping(let mapping) = node {
        checkKeys(mapping, ["window", "by"], "suppress", file)
        if let window = mapping["window"] { suppressWindow = duration(window, file) ?? suppressWindow }
        if mapping["by"] != nil { suppressBy = stringList(mapping["by"], "by", file).map(\.0) }
      } else {
        report(.error, location(node, file), "'suppress' takes 'window' and 'by'")
      }
    }
    let groupFields = fields(threshold?.groupBy ?? [], body["threshold"]?.mapping?["group_by"], file)
    let suppressFields = fields(suppressBy, body["suppress"]?.mapping?["by"], file)
    var distinctField: Field?
    if case .distinct(let name) = threshold?.measure {
      distinctField = Fields.byName[name]
      if distinctField == nil, let node = body["threshold"]?.mapping?["distinct"] {
        report(.error, location(node, file), "unknown field '\(name)' to count distinct values of")
      }
    }
    let output = compileTemplate(body["output"], file, here, default: name)
    let tests = compileTests(body["tests"], file)
    let tags = stringList(body["tags"], "tags", file).map(\.0)
    let references = stringList(body["references"], "references", file).map(\.0)
    guard !diagnostics[errorsBefore...].contains(where: { $0.severity == .error }) else { return nil }
    return Rule(
      id: id, name: name, description: description, severity: severity,
      tags: tags, references: references,
      enabled: enabled, events: events, threshold: threshold, suppressWindowNanoseconds: suppressWindow,
      suppressBy: suppressBy, output: output, tests: tests, location: here, condition: condition,
      exceptions: exceptions, groupFields: groupFields, suppressFields: suppressFields, distinctField: distinctField)
  }

  private mutating func fields(_ names: [String], _ node: Node?, _ file: String) -> [Field] {
    var result: [Field] = []
    let items =
      node.map { stringList($0, "fields", file) } ?? names.map { ($0, SourceLocation(file: file, line: 1, column: 1)) }
    for (name, at) in items {
      if let field = Fields.byName[name] { result.append(field) } else { report(.error, at, "unknown field '\(name)'") }
    }
    return result
  }

  private mutating func duration(_ node: Node, _ file: String) -> Int64? {
    guard let text = node.string, let value = Duration.parse(text), value > 0 else {
      report(
        .error, location(node, file),
        "a duration is a whole number with ms, s, m, h or d, like 30s, of at most \(Duration.maximum / 86_400_000_000_000)d"
      )
      return nil
    }
    return value
  }

  private mutating func compileThreshold(_ node: Node?, _ file: String) -> Threshold? {
    guard let node else { return nil }
    guard case .mapping(let mapping) = node else {
      report(.error, location(node, file), "'threshold' takes count, window, group_by and optionally distinct")
      return nil
    }
    checkKeys(mapping, ["count", "distinct", "window", "group_by"], "threshold", file)
    guard let countNode = mapping["count"], let count = countNode.int, count >= 1 else {
      report(.error, location(mapping["count"] ?? node, file), "'count' must be a whole number of at least 1")
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

  private mutating func compileTemplate(_ node: Node?, _ file: String, _ here: SourceLocation, default fallback: String)
    -> OutputTemplate
  {
    guard let node, let text = node.string else { return OutputTemplate(pieces: [.text(fallback)]) }
    var pieces: [OutputTemplate.Piece] = []
    var rest = Substring(text)
    let start = location(node, file)
    while let open = rest.firstIndex(of: "{") {
      pieces.append(.text(String(rest[..<open])))
      guard let close = rest[open...].firstIndex(of: "}") else {
        report(.error, start, "unclosed '{' in output")
        break
      }
      let name = String(rest[rest.index(after: open)..<close])
      switch name {
      case "count": pieces.append(.count)
      case "window": pieces.append(.window)
      case "group": pieces.append(.group)
      default:
        if let field = Fields.byName[name] {
          pieces.append(.field(field))
        } else {
          report(.error, start, "unknown placeholder '{\(name)}' in output (fields, or count, window, group)")
        }
      }
      rest = rest[rest.index(after: close)...]
    }
    pieces.append(.text(String(rest)))
    return OutputTemplate(pieces: pieces)
  }

  private mutating func compileTests(_ node: Node?, _ file: String) -> [RuleTest] {
    guard let node else { return [] }
    guard case .sequence(let items) = node else {
      report(.error, location(node, file), "'tests' must be a list")
      return []
    }
    var tests: [RuleTest] = []
    for item in items {
      guard case .mapping(let mapping) = item else {
        report(.error, location(item, file), "a test has name, events (or capture) and expect")
        continue
      }
      checkKeys(mapping, ["name", "events", "capture", "local", "expect"], "a test", file)
      let name = mapping["name"]?.string ?? "test at line \(location(item, file).line)"
      guard let expect = mapping["expect"]?.int, expect >= 0 else {
        report(.error, location(mapping["expect"] ?? item, file), "'expect' is the number of alerts expected (0: none)")
        continue
      }
      guard case .sequence(let eventNodes) = mapping["events"] ?? .sequence([]) else {
        report(.error, location(item, file), "'events' must be a list")
        continue
      }
      var events: [TestEvent] = []
      for eventNode in eventNodes {
        events += TestEventReader.read(eventNode, file, into: &self)
      }
      let capture = compileCapture(mapping, file)
      if capture != nil && !eventNodes.isEmpty {
        report(.error, location(item, file), "a test lists events or names a capture, not both")
        continue
      }
      tests.append(
        RuleTest(name: name, events: events, capture: capture, expectedAlerts: expect, location: location(item, file)))
    }
    return tests
  }
}

extension RuleSetBuilder {
  /// `capture: FILE` (relative to the rule file) with `local: [networks]`, or nil.
  fileprivate mutating func compileCapture(_ mapping: Node.Mapping, _ file: String) -> RuleTest.Capture? {
    guard let node = mapping["capture"] else {
      if let local = mapping["local"] { report(.error, location(local, file), "'local' goes with 'capture'") }
      return nil
    }
    guard let name = node.string, !name.isEmpty else {
      report(.error, location(node, file), "'capture' names a pcap or pcapng file, relative to this rule file")
      return nil
    }
    let directory = (file as NSString).deletingLastPathComponent
    let path = name.hasPrefix("/") || directory.isEmpty ? name : directory + "/" + name
    var networks: [IPNetwork] = []
    if let local = mapping["local"] {
      guard case .sequence(let items) = local else {
        report(.error, location(local, file), "'local' is a list of addresses and networks")
        return nil
      }
      for item in items {
        guard let text = item.string, let network = IPNetwork(text) else {
          report(.error, location(item, file), "'\(item.string ?? "")' is not an address or a CIDR block")
          continue
        }
        networks.append(network)
      }
    }
    return RuleTest.Capture(path: path, localNetworks: networks)
  }
}

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
  let a = Array(a)
  let b = Array(b)
  var previous = Array(0...b.count)
  for i in 1...max(1, a.count) where !a.isEmpty {
    var current = [i] + Array(repeating: 0, count: b.count)
    for j in 1...max(1, b.count) where !b.isEmpty {
      current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return a.isEmpty ? b.count : previous[b.count]
}

import FlowsentryCore
import FlowsentryPatterns
import Foundation
import Yams

/// The rules that were loaded, and what was found wrong or odd on the way.
public struct RuleSet: @unchecked Sendable {
  public var rules: [Rule]
  /// Warnings (unused lists and macros, overrides); errors make loading throw instead.
  public var warnings: [Diagnostic]
  public var files: [String]
  /// Distinct compiled regexes in the rules that loaded (a macro's, once however many use it).
  public var regexCount: Int
  /// Each rule a later file replaced (same id), positioned at the replacement and naming the
  /// replaced rule's position; also among `warnings`, so that whoever logs those logs these once.
  public var replacements: [Diagnostic] = []
  /// The typed (threat-intel) lists loaded, for `rules check`.
  public var intelLists: [IntelListSummary] = []
  /// The typed lists the rules read, by name, for ``listings(of:)``.
  var indicatorLists: [IndicatorListReference] = []
  /// What the monitor's pruning of the pattern cache did once this set was taken to run (the
  /// reload's log line says it); nil when nothing pruned (``prunePatternCache(stateDirectory:)``).
  public var patternCachePruning: PatternCachePruning?

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
      if let (line, column) = firstInvalidUTF8(data) {
        diagnostics.append(
          Diagnostic(.error, file: file, line: line, column: column, message: "the file is not UTF-8 from here"))
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

/// Where the first byte sequence that is not UTF-8 starts (1-based line, column in scalars), if any.
func firstInvalidUTF8(_ data: some Sequence<UInt8>) -> (line: Int, column: Int)? {
  var iterator = data.makeIterator()
  var decoder = UTF8()
  var line = 1
  var column = 1
  while true {
    switch decoder.decode(&iterator) {
    case .scalarValue(let scalar):
      if scalar == "\n" {
        line += 1
        column = 1
      } else {
        column += 1
      }
    case .emptyInput: return nil
    case .error: return (line, column)
    }
  }
}

struct RuleSetBuilder {
  var diagnostics: [Diagnostic] = []
  var sourceLines: [String: [String]] = [:]
  var lists: [String: ListDefinition] = [:]
  var macros: [String: MacroDefinition] = [:]
  var ruleNodes: [(file: String, node: Node.Mapping, location: SourceLocation)] = []
  var enabledOverrides: [String: (Bool, SourceLocation)] = [:]
  var replacements: [Diagnostic] = []

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
}

import FlowsentryCore
import FlowsentryIntel
import Foundation
import Yams

/// A typed (threat-intel) list as a rule file declares it: `- list: {name, type, match, files,
/// format, column, severity, items}`. Loaded once the rule files are collected (a list a later file
/// replaces is never read), through `IntelListLoader`.
struct IntelListDeclaration {
  var type: IndicatorType
  var match: DomainMatch
  var format: FeedFormat
  /// Each `files:` item and where it is written.
  var files: [(pattern: String, location: SourceLocation)]
  var severity: Severity?
  /// The rule file's directory, which relative paths and globs start from.
  var baseDirectory: String
  /// `optional: true`: a glob matching nothing is expected (feeds an install may not have), not a warning.
  var isOptional: Bool
  /// `except:` the lists (an allowlist) whose values this one never matches, each value on its own:
  /// a lookup answered with a listed and an allowlisted address still matches by the listed one.
  var except: [(name: String, location: SourceLocation)] = []
  /// Whether `except:` was written at all (`except: []` says that no allowlist is meant).
  var exceptWritten = false
  /// The loaded sets: the inline items' and the files', each non-empty one.
  var sets: [IntelList] = []
  var summary: IntelListSummary?
}

/// What `rules check` prints for a typed list.
public struct IntelListSummary: Sendable, Equatable {
  public var name: String
  public var type: String
  /// `exact` or `suffix` (domain lists).
  public var match: String
  /// `file:line:column` of the declaration.
  public var location: String
  /// The declaration's position, for a diagnostic at it (`warningsForShrunkLists`).
  public var declarationFile = ""
  public var declarationLine = 1
  public var declarationColumn = 1
  public var indicators = 0
  public var duplicates = 0
  public var malformed = 0
  /// Zeek intel lines of types the list does not hold.
  public var skipped = 0
  /// `skipped` by Zeek `indicator_type`, so that a misspelt type shows (`IntelListStatistics.skippedTypes`).
  public var skippedTypes: [String: Int] = [:]
  /// Address blocks kept though broader than /8 or /16 (each a warning).
  public var broadBlocks = 0
  /// Single labels of hosts-file lines skipped (a hosts file's header: `localhost`).
  public var hostsFileLabels = 0
  /// Zeek lines whose `meta.source` was past the list's limit of distinct ones (their file names them).
  public var feedSourcesPastLimit = 0
  public var files = 0
  /// Paths the globs matched and skipped: not regular files, or past the feed size limit (each a
  /// warning). A feed lost so is counted where a monitor's metrics show it, not only in its log.
  public var skippedFiles = 0
  public var lines = 0
  public var memoryBytes = 0
  public var severity: String?
  /// The `files:` paths and globs, resolved against the rule file's directory: what a feed watcher watches.
  public var filePatterns: [String] = []
  /// The `except:` lists, whose values this list never matches.
  public var except: [String] = []

  /// One line: `c2_domains (domain, suffix): 2 indicators, 0 duplicates, 1 malformed line, …`.
  public var description: String {
    let kind = type == "domain" ? "\(type), \(match)" : type
    var text =
      "list \(name) (\(kind)) at \(location): \(counted(indicators, "indicator")), "
      + "\(counted(duplicates, "duplicate")), \(counted(malformed, "malformed line"))"
    if skipped > 0 {
      text +=
        ", \(counted(skipped, "line of another type", "lines of other types")) skipped (\(skippedTypeBreakdown))"
    }
    if broadBlocks > 0 { text += ", \(counted(broadBlocks, "broad block"))" }
    if hostsFileLabels > 0 { text += ", \(counted(hostsFileLabels, "single label")) of hosts-file lines skipped" }
    if feedSourcesPastLimit > 0 {
      let lines = counted(feedSourcesPastLimit, "line")
      text +=
        ", \(lines) with a meta.source past \(IntelLimits.maximumFeedSourcesPerList)"
        + " distinct ones attributed to \(feedSourcesPastLimit == 1 ? "its" : "their") file"
    }
    text += ", \(counted(files, "file"))"
    if skippedFiles > 0 { text += " (\(counted(skippedFiles, "path")) skipped)" }
    text += ", \(counted(memoryBytes, "byte"))"
    if let severity { text += ", severity \(severity)" }
    if !except.isEmpty { text += ", except what \(except.joined(separator: " or ")) holds" }
    return text
  }

  /// Types shown by name in `description`; a hostile file may name up to 64.
  static let skippedTypesShown = 8

  /// `Intel::URL 4, Intel::DOMIAN 1`: the most skipped first, then by name.
  var skippedTypeBreakdown: String {
    let ordered = skippedTypes.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
    var parts = ordered.prefix(Self.skippedTypesShown).map { "\($0.key) \($0.value)" }
    let rest = ordered.dropFirst(Self.skippedTypesShown)
    if !rest.isEmpty { parts.append("\(rest.reduce(0) { $0 + $1.value }) of \(rest.count) more types") }
    return parts.joined(separator: ", ")
  }
}

extension RuleSetBuilder {
  static let intelListKeys = ["type", "match", "files", "format", "column", "severity", "optional", "except"]
  /// A CSV column past this is a typo, not a feed (abuse.ch's have fewer than twenty).
  static let maximumCSVColumn = 1_000
  /// Typed lists a rule chain may declare: an address or port list costs a fixed index of up to
  /// 256 KiB a family whatever it holds, so a file declaring thousands would cost gigabytes.
  static let maximumTypedLists = 128

  /// The typed part of a list's keys, nil when it has none (a plain list) or after an error.
  mutating func intelDeclaration(_ body: Node.Mapping, _ file: String) -> IntelListDeclaration? {
    let present = Self.intelListKeys.filter { body[$0] != nil }
    guard !present.isEmpty else { return nil }
    guard let typeNode = body["type"] else {
      report(
        .error, location(body[present[0]]!, file),
        "'\(present[0])' belongs to a typed list: add 'type' (\(Self.typeNames))")
      return nil
    }
    guard let type = typeNode.string.flatMap(IndicatorType.init(rawValue:)) else {
      report(.error, location(typeNode, file), "'type' is one of \(Self.typeNames)")
      return nil
    }
    var failed = false
    var match = DomainMatch.exact
    if let node = body["match"] {
      if type != .domain {
        report(.error, location(node, file), "'match' applies to domain lists only")
        failed = true
      } else if let value = node.string.flatMap(DomainMatch.init(rawValue:)) {
        match = value
      } else {
        report(.error, location(node, file), "'match' is exact or suffix")
        failed = true
      }
    }
    var format = FeedFormat.lines
    let formatName = body["format"]?.string ?? "lines"
    switch formatName {
    case "lines": format = .lines
    case "zeek-intel": format = .zeekIntel
    case "csv":
      guard let node = body["column"] else {
        report(.error, location(body["format"]!, file), "a csv list needs 'column' (a 1-based number or a header name)")
        return nil
      }
      if let number = node.checkedInt {
        guard (1...Self.maximumCSVColumn).contains(number) else {
          report(.error, location(node, file), "'column' is from 1 to \(Self.maximumCSVColumn), or a header name")
          return nil
        }
        format = .csv(column: .index(number))
      } else if let name = node.string, !name.isEmpty {
        format = .csv(column: .name(name))
      } else {
        report(.error, location(node, file), "'column' is a 1-based number or a header name")
        return nil
      }
    default:
      report(.error, location(body["format"]!, file), "'format' is lines, csv or zeek-intel")
      return nil
    }
    if formatName != "csv", let node = body["column"] {
      report(.error, location(node, file), "'column' goes with 'format: csv'")
      failed = true
    }
    var severity: Severity?
    if let node = body["severity"] {
      severity = node.string.flatMap(Severity.init(rawValue:))
      if severity == nil {
        report(
          .error, location(node, file),
          "severity must be one of \(Severity.allCases.map(\.rawValue).joined(separator: ", "))")
        failed = true
      }
    }
    var isOptional = false
    if let node = body["optional"] {
      guard let value = node.bool else {
        report(.error, location(node, file), "'optional' must be true or false")
        return nil
      }
      isOptional = value
    }
    let files = stringList(body["files"], "files", file).map { (pattern: $0.0, location: $0.1) }
    var except: [(name: String, location: SourceLocation)] = []
    if let node = body["except"] {
      // One list name, or several.
      if let name = node.scalar?.string {
        except = [(name, location(node, file))]
      } else {
        except = stringList(node, "except", file).map { (name: $0.0, location: $0.1) }
      }
    }
    guard !failed else { return nil }
    return IntelListDeclaration(
      type: type, match: match, format: format, files: files, severity: severity,
      baseDirectory: (file as NSString).deletingLastPathComponent,
      isOptional: isOptional, except: except, exceptWritten: body["except"] != nil)
  }

  private static var typeNames: String { IndicatorType.allCases.map(\.rawValue).joined(separator: ", ") }

  /// Reads every typed list's items and files. Malformed feed lines are warnings at their file:line:col
  /// (counted, skipped); malformed inline items and unreadable feeds are errors.
  mutating func loadIntelLists() {
    var loaded = 0
    for name in lists.keys.sorted() {
      guard let definition = lists[name], var declaration = definition.intel else { continue }
      loaded += 1
      guard loaded <= Self.maximumTypedLists else {
        report(
          .error, definition.location, "more than \(Self.maximumTypedLists) typed lists; a list's files may be globs")
        lists[name]?.intel?.sets = []
        continue
      }
      var summary = IntelListSummary(
        name: name, type: declaration.type.rawValue, match: declaration.match.rawValue,
        location: "\(definition.location.file):\(definition.location.line):\(definition.location.column)",
        severity: declaration.severity?.rawValue)
      summary.declarationFile = definition.location.file
      summary.declarationLine = definition.location.line
      summary.declarationColumn = definition.location.column
      summary.filePatterns = declaration.files.map { resolve($0.pattern, declaration.baseDirectory) }
      summary.except = declaration.except.map(\.name)
      var sets: [IntelList] = []
      var inline = IntelListBuilder(name: name, type: declaration.type, domainMatch: declaration.match)
      for item in definition.items {
        let before = inline.diagnostics.count
        if !inline.addItem(item.text, file: item.location.file, line: item.location.line, column: item.location.column)
        {
          let message = inline.diagnostics.count > before ? inline.diagnostics[before].message : "not an indicator"
          report(.error, item.location, "list '\(name)': \(message)")
        }
      }
      for var warning in inline.warnings {
        warning.message = "list '\(name)': \(warning.message)"
        diagnostics.append(warning)
      }
      sets.append(inline.build())
      if let loaded = loadFiles(name, declaration, &summary) { sets.append(loaded) }
      for set in sets {
        summary.indicators += set.statistics.indicators
        summary.duplicates += set.statistics.duplicates
        summary.malformed += set.statistics.malformed
        summary.skipped += set.statistics.skipped
        summary.skippedTypes.merge(set.statistics.skippedTypes, uniquingKeysWith: +)
        summary.broadBlocks += set.statistics.broadBlocks
        summary.hostsFileLabels += set.statistics.hostsFileLabels
        summary.feedSourcesPastLimit += set.statistics.feedSourcesPastLimit
        summary.files += set.statistics.files
        summary.lines += set.statistics.lines
        summary.memoryBytes += set.statistics.memoryBytes
      }
      declaration.sets = sets.filter { $0.count > 0 }
      declaration.summary = summary
      lists[name]?.intel = declaration
    }
  }

  private mutating func loadFiles(
    _ name: String, _ declaration: IntelListDeclaration, _ summary: inout IntelListSummary
  ) -> IntelList? {
    guard !declaration.files.isEmpty else { return nil }
    var patterns: [String] = []
    for (pattern, at) in declaration.files {
      let path = resolve(pattern, declaration.baseDirectory)
      // A glob under a directory that does not exist matches nothing, as a glob should (glob(3) with
      // GLOB_ERR would call that unsearchable): /etc/flowsentry/intel/ on a host without feeds.
      if pattern.contains(where: { "*?[".contains($0) }),
        !FileManager.default.fileExists(atPath: IntelListLoader.globDirectory(path))
      {
        unmatched(name, pattern, at, declaration)
        continue
      }
      patterns.append(pattern)
    }
    let specification = IntelListSpecification(
      name: name, type: declaration.type, match: declaration.match, files: patterns, format: declaration.format)
    let load: IntelListLoad
    do {
      load = try IntelListLoader.load(specification, baseDirectory: declaration.baseDirectory)
    } catch {
      switch error.error {
      case .unreadable(let path, let reason):
        report(
          .error, item(error.pattern, declaration), "list '\(name)': cannot read feed \(path): \(reason)")
      case .invalid(let diagnostic):
        var diagnostic = diagnostic
        diagnostic.severity = .error
        diagnostic.message = "list '\(name)': \(diagnostic.message)"
        diagnostics.append(diagnostic)
      }
      return nil
    }
    for pattern in load.unmatchedPatterns {
      unmatched(name, pattern, item(pattern, declaration), declaration)
    }
    let shown = IntelLimits.warningsShownPerKind
    summary.skippedFiles = load.skippedFiles.count
    for skipped in load.skippedFiles.prefix(shown) {
      report(
        .warning, item(skipped.pattern, declaration),
        "list '\(name)': skipped \(skipped.path), matched by '\(skipped.pattern)': \(skipped.reason)")
    }
    if load.skippedFiles.count > shown {
      report(
        .warning, item(load.skippedFiles[shown].pattern, declaration),
        "list '\(name)': \(load.skippedFiles.count) paths that are not regular files or are past the size limit "
          + "skipped in all; the first \(shown) are shown")
    }
    for var diagnostic in load.list.diagnostics {
      diagnostic.severity = .warning
      diagnostic.message = "list '\(name)': \(diagnostic.message) (line skipped)"
      diagnostics.append(diagnostic)
    }
    for var warning in load.list.warnings {
      warning.message = "list '\(name)': \(warning.message)"
      diagnostics.append(warning)
    }
    for (pattern, path, malformed) in load.filesWithoutIndicators.prefix(shown) {
      // What a download cut short or an error page renamed over a feed leaves: the list loses the
      // feed's indicators, which a line-by-line warning (or none, for an empty file) hides.
      let at = item(pattern, declaration)
      let what =
        switch malformed {
        case 0: "it is empty or comments only"
        case 1: "its one line that is not a comment is malformed"
        default: "all \(malformed) of its lines that are not comments are malformed"
        }
      report(.warning, at, "list '\(name)': feed \(path) adds no indicator: \(what)")
    }
    if load.filesWithoutIndicators.count > shown {
      report(
        .warning, item(load.filesWithoutIndicators[shown].pattern, declaration),
        "list '\(name)': \(load.filesWithoutIndicators.count) feeds add no indicator in all; "
          + "the first \(shown) are shown")
    }
    let broad = load.list.statistics.broadBlocks
    if broad > load.list.warnings.count, let at = declaration.files.first?.location {
      report(
        .warning, at,
        "list '\(name)': \(broad) broad blocks kept in all; the first \(load.list.warnings.count) are shown")
    }
    let malformed = load.list.statistics.malformed
    if malformed > load.list.diagnostics.count, let at = declaration.files.first?.location {
      report(
        .warning, at,
        "list '\(name)': \(malformed) malformed lines skipped in all; the first \(load.list.diagnostics.count) are shown"
      )
    }
    return load.list
  }

  private mutating func unmatched(
    _ name: String, _ pattern: String, _ at: SourceLocation, _ declaration: IntelListDeclaration
  ) {
    // The shipped rules name /etc/flowsentry/intel/, which a default install leaves empty.
    guard !declaration.isOptional else { return }
    report(.warning, at, "list '\(name)': no file matches '\(pattern)'; it adds nothing to the list")
  }

  /// The `files:` item that wrote `pattern`: every per-file warning and error is placed by the
  /// pattern the loader carried with the file from the glob that matched it.
  private func item(_ pattern: String, _ declaration: IntelListDeclaration) -> SourceLocation {
    (declaration.files.first { $0.pattern == pattern } ?? declaration.files[0]).location
  }

  func resolve(_ pattern: String, _ base: String) -> String {
    IntelListLoader.resolve(pattern, in: base)
  }

  /// Each typed list's summary, by name.
  func intelListSummaries() -> [IntelListSummary] {
    lists.keys.sorted().compactMap { lists[$0]?.intel?.summary }
  }
}

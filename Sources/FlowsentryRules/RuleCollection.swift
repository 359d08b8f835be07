import FlowsentryCore
import Foundation
import Yams

/// Collect: a rule file's YAML into lists, macros and rule nodes, later files overriding earlier ones.
extension RuleSetBuilder {
  mutating func collect(file: String, text: String) {
    sourceLines[file] = text.components(separatedBy: "\n")
    let root: Node?
    do {
      root = try Yams.compose(yaml: text)
    } catch {
      let position = YAMLErrorText.position(error) ?? (1, 1)
      report(
        .error, SourceLocation(file: file, line: position.line, column: position.column),
        "YAML: \(YAMLErrorText.message(error))")
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

  /// Checks keys against the allowed ones; suggests the nearest for a typo.
  /// `reportedElsewhere`: keys the caller reports with a message of its own.
  mutating func checkKeys(
    _ mapping: Node.Mapping, _ allowed: [String], _ what: String, _ file: String, reportedElsewhere: [String] = []
  ) {
    for (key, _) in mapping {
      guard let name = key.string, !allowed.contains(name), !reportedElsewhere.contains(name) else { continue }
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
    checkKeys(body, ["name", "items", "append", "replace"] + Self.intelListKeys, "a list", file)
    guard let name = requiredString(body, "name", "a list", file, at: here) else { return }
    let items = stringList(body["items"], "items", file)
    var append = false
    if let node = body["append"] {
      guard let value = node.bool else {
        report(.error, location(node, file), "'append' must be true or false")
        return
      }
      append = value
    }
    // `replace: true` says that replacing an earlier definition, and no longer reading its files,
    // is meant (the documented way to read feeds of another format or place): no warning then.
    var replace = false
    if let node = body["replace"] {
      guard let value = node.bool else {
        report(.error, location(node, file), "'replace' must be true or false")
        return
      }
      if value && append {
        report(
          .error, location(node, file), "'replace' and 'append' contradict each other: a list is extended or replaced")
        return
      }
      replace = value
    }
    if append {
      // Appending to nothing would quietly define a list a later file may expect to extend.
      guard var existing = lists[name] else {
        report(
          .error, location(body["append"]!, file), "'append' extends a list defined before, and no list '\(name)' is")
        return
      }
      if let key = Self.intelListKeys.first(where: { body[$0] != nil }) {
        report(.error, location(body[key]!, file), "'append' adds items; '\(key)' belongs to the list it extends")
        return
      }
      existing.items += items.map { (text: $0.0, location: $0.1) }
      lists[name] = existing
    } else {
      if let typed = lists[name], let intel = typed.intel, !Self.intelListKeys.contains(where: { body[$0] != nil }) {
        refuseUntypedReplacement(of: typed, intel, at: location(body["name"]!, file))
        return
      }
      let intel = intelDeclaration(body, file)
      if !replace, let typed = lists[name], let earlier = typed.intel, let intel {
        warnOfDroppedFiles(typed, earlier, intel, at: location(body["name"]!, file))
      }
      if let typed = lists[name], let earlier = typed.intel, !earlier.except.isEmpty, let intel, !intel.exceptWritten {
        warnOfDroppedAllowlist(typed, earlier, at: location(body["name"]!, file))
      }
      lists[name] = ListDefinition(
        name: name, items: items.map { (text: $0.0, location: $0.1) }, location: here, intel: intel)
    }
  }

  /// Repeating `type` replaces a typed list, as documented; but one written only to change `match`
  /// or add items lost the earlier definition's feeds with nothing said (`0 files … OK`).
  private mutating func warnOfDroppedFiles(
    _ typed: ListDefinition, _ earlier: IntelListDeclaration, _ intel: IntelListDeclaration, at: SourceLocation
  ) {
    let read = Set(intel.files.map { resolve($0.pattern, intel.baseDirectory) })
    guard !earlier.files.isEmpty,
      !earlier.files.contains(where: { read.contains(resolve($0.pattern, earlier.baseDirectory)) })
    else { return }
    let defined = "\(typed.location.file):\(typed.location.line):\(typed.location.column)"
    report(
      .warning, at,
      "list '\(typed.name)' replaces the typed list defined at \(defined), which read "
        + earlier.files.map(\.pattern).joined(separator: ", ")
        + "; those files are no longer read (list them in this definition's files to read them too, "
        + "or add replace: true if no longer reading them is meant)")
  }

  /// A list replaced to read other feeds (the documented Feodo CSV recipe) kept none of the shipped
  /// list's `except:`, and the allowlist stopped applying to it with nothing said.
  private mutating func warnOfDroppedAllowlist(
    _ typed: ListDefinition, _ earlier: IntelListDeclaration, at: SourceLocation
  ) {
    let defined = "\(typed.location.file):\(typed.location.line):\(typed.location.column)"
    let names = earlier.except.map(\.name).joined(separator: ", ")
    report(
      .warning, at,
      "list '\(typed.name)' replaces the typed list defined at \(defined), which excepted what \(names) "
        + "holds; this one excepts nothing, so that allowlist no longer applies to it "
        + "(add except: \(earlier.except.count == 1 ? names : "[\(names)]") to keep it, or except: [] if that is meant)"
    )
  }

  /// Without `type`, a definition would make a typed list an inline one: its feeds no longer read
  /// and its `in` tests plain string or address comparisons, with nothing said. What was meant is
  /// either adding items (`append: true`) or replacing the list with a typed one.
  private mutating func refuseUntypedReplacement(
    of typed: ListDefinition, _ intel: IntelListDeclaration, at: SourceLocation
  ) {
    let files = intel.files.isEmpty ? "no files" : "files " + intel.files.map(\.pattern).joined(separator: ", ")
    let defined = "\(typed.location.file):\(typed.location.line):\(typed.location.column)"
    report(
      .error, at,
      "list '\(typed.name)' is a typed list (\(intel.type.rawValue), \(files)) defined at \(defined); "
        + "without 'type' this would replace it with an inline list whose files are no longer read: "
        + "add 'append: true' to add these items, or repeat 'type' (and 'files') to replace it")
  }

  /// Refuses control characters (a newline in an alert's text could forge a log line) and U+FFFD
  /// (what bytes that are not UTF-8 became) in ids, names, outputs, tags and references; false
  /// after the error.
  mutating func checkPrintable(_ text: String, _ node: Node, _ key: String, _ file: String) -> Bool {
    checkPrintable(text, location(node, file), key)
  }

  mutating func checkPrintable(_ text: String, _ at: SourceLocation, _ key: String) -> Bool {
    for (index, scalar) in text.unicodeScalars.enumerated() {
      let isControl = scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
      guard isControl || scalar == "\u{FFFD}" else { continue }
      let what = isControl ? "a control character" : "U+FFFD (bytes that are not UTF-8)"
      let code = "U+" + String(scalar.value, radix: 16, uppercase: true)
      report(.error, at, "'\(key)' contains \(what), \(code) at character \(index + 1)")
      return false
    }
    return true
  }

  private mutating func collectMacro(_ body: Node.Mapping, _ file: String) {
    let here = location(.mapping(body), file)
    checkKeys(body, ["name", "condition", "deprecated"], "a macro", file)
    guard let name = requiredString(body, "name", "a macro", file, at: here) else { return }
    guard let condition = conditionText(body["condition"], "condition", file, at: here) else { return }
    var deprecated: String?
    if let node = body["deprecated"] {
      guard let reason = node.scalar?.string, !reason.isEmpty else {
        report(.error, location(node, file), "'deprecated' is a text saying what to use instead")
        return
      }
      deprecated = reason
    }
    macros[name] = MacroDefinition(name: name, condition: condition, location: here, deprecated: deprecated)
  }

  static let ruleKeys = [
    "id", "name", "description", "severity", "tags", "references", "enabled", "events", "condition", "threshold",
    "suppress", "output", "exceptions", "tests", "beacon", "first_seen",
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
}

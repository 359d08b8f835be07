import FlowsentryCore
import FlowsentryPatterns

/// Load-time warnings about tests that compile but cannot do what they say: a case-sensitive test
/// on a field of DNS names whose literal capture can never deliver (names are lower case, other
/// bytes `\DDD`: DNSNameText), and a regex that matches the empty string. Warnings, not errors: the
/// rule still loads as written.
extension ConditionCompiler {
  /// The fields that hold DNS names as capture writes them (and, for `dns.answers`, addresses,
  /// which are lower case too).
  static let nameFields: Set<String> = ["src_dns", "dst_dns", "remote_dns", "dns.questions", "dns.answers"]

  func warn(_ location: SourceLocation, _ message: String) {
    let key = "\(location.file):\(location.line):\(location.column):\(message)"
    guard warned.insert(key).inserted else { return }
    warnings.append(CompileError(location: location, message: message))
  }

  /// A case-sensitive literal or pattern on a name field that holds a letter in upper case, a
  /// space, a control or a non-ASCII character never matches there (`!=` is always true).
  func warnIfNeverCaptured(
    _ field: Field, _ comparison: ComparisonOperator, _ value: ValueNode, _ source: ConditionText
  ) {
    guard Self.nameFields.contains(field.name), !comparison.isCaseInsensitive else { return }
    let instead = comparison == .equal || comparison == .notEqual || comparison == .in ? nil : "i\(comparison.rawValue)"
    switch comparison {
    case .matches:
      guard case .string(let pattern, let offset) = value,
        let index = PatternShape.requiredLiteralNeverInName(pattern)
      else { return }
      let scalar = Array(pattern.unicodeScalars)[index]
      warn(
        source.location(at: Self.sourceOffset(ofScalar: index, inStringAt: offset, source.text)),
        "'\(field.name) matches' can never match here: every match needs \(Self.describe(scalar)), but "
          + Self.nameForm(field) + "; "
          + (Self.isCapital(scalar)
            ? "use 'imatches' or write the pattern in lower case"
            : "match the name's \\DDD text instead (a backslash in the pattern is '\\\\')"))
    case .equal, .notEqual, .in, .contains, .startswith, .endswith:
      let literals: [(String, SourceLocation)]
      switch value {
      case .string(let text, let offset), .word(let text, let offset): literals = [(text, source.location(at: offset))]
      case .set(let items, _):
        literals = items.compactMap { item in
          switch item {
          case .string(let text, let offset), .word(let text, let offset): (text, source.location(at: offset))
          case .set: nil
          }
        }
      }
      // A list's items are checked where the list is used: whether they can match depends on the field.
      // A bare word after any other operator names a list (an undefined one is an error of its own).
      var items = literals
      if comparison != .equal && comparison != .notEqual, case .word = value { items = listItems(value) ?? [] }
      for (text, location) in items {
        guard let scalar = text.unicodeScalars.first(where: PatternShape.neverInName) else { continue }
        let outcome = comparison == .notEqual ? "is always true" : "can never match"
        // Only a capital has an `i…` form that matches it: the others are bytes a name escapes.
        let fix = instead.flatMap { Self.isCapital(scalar) ? "use '\($0)' or write it " : nil } ?? "write it "
        warn(
          location,
          "'\(field.name) \(comparison.rawValue) \(text)' \(outcome): '\(text)' has \(Self.describe(scalar)), but "
            + Self.nameForm(field) + "; \(fix)as capture does: '\(Self.captured(text))'")
      }
    default:
      return
    }
  }

  /// The items of a plain list named by `value`, nil for anything else.
  private func listItems(_ value: ValueNode) -> [(String, SourceLocation)]? {
    guard case .word(let name, _) = value, let list = lists[name], list.intel == nil else { return nil }
    return list.items.map { ($0.text, $0.location) }
  }

  /// A regex that matches the empty string: true of every value when nothing in it depends on where
  /// it is matched (`zzz|`, `(|)`); otherwise an empty alternative outside every group is named
  /// (`^evil|`: its right side matches anywhere). An empty alternative in a group is an idiom for
  /// an optional part (`^(www\.|)example\.com$`), and an anchored pattern meant to match an empty
  /// value (`^$`) says nothing.
  func warnIfMatchingEmpty(
    _ regex: PCRE2Regex, _ field: Field, _ comparison: ComparisonOperator, at offset: Int, _ source: ConditionText
  ) {
    let pattern = regex.pattern
    if PatternShape.isContextFree(pattern), regex.matches("") {
      warn(
        source.location(at: offset + 1),
        "'\(pattern)' matches the empty string, so '\(field.name) \(comparison.rawValue)' is true of every value "
          + "(an empty alternative, or a group or a quantifier that can match nothing)")
    } else if let index = PatternShape.emptyAlternative(pattern) {
      warn(
        source.location(at: Self.sourceOffset(ofScalar: index, inStringAt: offset, source.text)),
        "an empty alternative: this '|' lets '\(pattern)' match with nothing on one side of it; "
          + "write '(…)?' if that is meant, or remove the '|'")
    }
  }

  private static func nameForm(_ field: Field) -> String {
    "\(field.name) holds names as capture delivers them (lower case, other bytes as \\DDD: docs/EVENTS.md)"
  }

  private static func isCapital(_ scalar: Unicode.Scalar) -> Bool { ("A"..."Z").contains(scalar) }

  private static func describe(_ scalar: Unicode.Scalar) -> String {
    if isCapital(scalar) { return "the capital '\(scalar)'" }
    if scalar == " " { return "a space" }
    if scalar.value < 0x20 || scalar.value == 0x7f { return "a control character" }
    return "the non-ASCII '\(TerminalText.escapingControls(String(scalar)))'"
  }

  /// `text` as a name holds it: ASCII letters lowered, every other byte outside printable ASCII as
  /// `\DDD`; dots and backslashes kept, since a literal may be part of a name or already escaped.
  static func captured(_ text: String) -> String {
    var bytes: [UInt8] = []
    for byte in text.utf8 {
      if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "\\") {
        bytes.append(byte)
      } else {
        DNSNameText.appendEscaped(byte, to: &bytes)
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Where the `index`th scalar of the string whose quote is at `offset` sits in the condition:
  /// the string's `\'` and `\\` are one scalar each in its value (ConditionSyntax.swift).
  static func sourceOffset(ofScalar index: Int, inStringAt offset: Int, _ text: String) -> Int {
    let scalars = Array(text.unicodeScalars)
    guard offset < scalars.count else { return offset }
    let quote = scalars[offset]
    var position = offset + 1
    var produced = 0
    while produced < index, position < scalars.count {
      let isEscape =
        scalars[position] == "\\" && position + 1 < scalars.count
        && (scalars[position + 1] == quote || scalars[position + 1] == "\\")
      position += isEscape ? 2 : 1
      produced += 1
    }
    return position
  }
}

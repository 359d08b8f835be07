import FlowsentryCore
import FlowsentryIntel
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

  /// A literal or pattern on a name field that capture can never deliver: under a case-sensitive
  /// test, a letter in upper case, a space, a control or a non-ASCII character; under an `i…` form
  /// (which folds ASCII only) the last three; and a final dot where the name's end is compared, or
  /// a leading dot where its start is (names have neither). `!=` is then always true.
  func warnIfNeverCaptured(
    _ field: Field, _ comparison: ComparisonOperator, _ value: ValueNode, _ source: ConditionText
  ) {
    guard Self.nameFields.contains(field.name) else { return }
    switch comparison {
    case .matches:
      guard case .string(let pattern, let offset) = value else { return }
      warnIfNeverCaptured(field, pattern: pattern, at: offset, source)
    case .in where typedStringList(value) != nil:
      guard case .word(let name, let offset) = value, let list = typedStringList(value) else { return }
      warnIfNeverCaptured(field, list: name, list.items, at: source.location(at: offset))
      warnIfFeedsNeverCaptured(field, list: name, list.intel?.sets ?? [], at: source.location(at: offset))
    case .equal, .notEqual, .in, .contains, .startswith, .endswith, .icontains, .istartswith, .iendswith:
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
        guard let why = Self.whyNeverCaptured(text, field, comparison) else { continue }
        let outcome = comparison == .notEqual ? "is always true" : "can never match"
        warn(location, "'\(field.name) \(comparison.rawValue) \(text)' \(outcome): \(why)")
      }
    default:
      return
    }
  }

  /// A case-sensitive regex: at the letter every match needs, or else at the first alternative that
  /// needs one (PatternAlternatives.swift).
  private func warnIfNeverCaptured(_ field: Field, pattern: String, at offset: Int, _ source: ConditionText) {
    let scalars = Array(pattern.unicodeScalars)
    let index: Int
    var alternative: PatternShape.DeadAlternative?
    if let required = PatternShape.requiredLiteralNeverInName(pattern) {
      index = required
    } else if let dead = PatternShape.deadAlternative(pattern) {
      index = dead.literal
      if dead.range != scalars.indices { alternative = dead }
    } else {
      return
    }
    let scalar = scalars[index]
    let fix =
      Self.isCapital(scalar)
      ? "use 'imatches' or write the \(alternative == nil ? "pattern" : "alternative") in lower case"
      : "match the name's \\DDD text instead (a backslash in the pattern is '\\\\')"
    let location = source.location(at: Self.sourceOffset(ofScalar: index, inStringAt: offset, source.text))
    guard let alternative else {
      warn(
        location,
        "'\(field.name) matches' can never match here: every match needs \(Self.describe(scalar)), but "
          + Self.nameForm(field) + "; " + fix)
      return
    }
    let text = String(String.UnicodeScalarView(scalars[alternative.range]))
    let more =
      switch alternative.others {
      case 0: ""
      case 1: " (1 more alternative needs one too)"
      default: " (\(alternative.others) more alternatives need one too)"
      }
    warn(
      location,
      "'\(field.name) matches' can never take the alternative '\(text)' of '\(pattern)': it needs "
        + "\(Self.describe(scalar)), but " + Self.nameForm(field) + "; " + fix + more)
  }

  /// `name in LIST` where LIST is `type: string`: its items are compared as bytes, so one a name
  /// never holds can never match. Said at the use, naming the first such item and where it is; the
  /// list's files are not read for this.
  private func warnIfNeverCaptured(
    _ field: Field, list name: String, _ items: [(text: String, location: SourceLocation)], at location: SourceLocation
  ) {
    let never = items.compactMap { item in Self.whyNeverCaptured(item.text, field, .in).map { (item, $0) } }
    guard let ((text, at), why) = never.first else { return }
    let more =
      switch never.count {
      case 1: ""
      case 2: " (1 more item cannot match either)"
      default: " (\(never.count - 1) more items cannot match either)"
      }
    warn(
      location,
      "'\(field.name) in \(name)' can never match its item '\(text)' (\(at.file):\(at.line):\(at.column)): "
        + "the list is 'type: string', compared byte for byte, and \(why)\(more); a 'type: domain' list "
        + "compares names in any case, without the final dot")
  }

  /// As the inline items' warning, for the strings the list's files hold: one warning, naming the
  /// first such string where its feed has it and how many there are (the loader counted them,
  /// `IntelListStatistics.stringsUnlikeAnyName`), since a feed written in capitals has millions.
  private func warnIfFeedsNeverCaptured(
    _ field: Field, list name: String, _ sets: [IntelList], at location: SourceLocation
  ) {
    let count = sets.reduce(0) { $0 + $1.statistics.stringsUnlikeAnyName }
    guard let first = sets.lazy.compactMap(\.statistics.firstStringUnlikeAnyName).first,
      let why = Self.whyNeverCaptured(first.text, field, .in)
    else { return }
    let which =
      count == 1
      ? "the string '\(first.text)' its files hold" : "\(count) strings its files hold, the first '\(first.text)'"
    warn(
      location,
      "'\(field.name) in \(name)' can never match \(which) (\(first.file):\(first.line):\(first.column)): "
        + "the list is 'type: string', compared byte for byte, and \(why); a 'type: domain' list "
        + "compares names in any case, without the final dot")
  }

  /// The items of a plain list named by `value`, nil for anything else.
  private func listItems(_ value: ValueNode) -> [(String, SourceLocation)]? {
    guard case .word(let name, _) = value, let list = lists[name], list.intel == nil else { return nil }
    return list.items.map { ($0.text, $0.location) }
  }

  /// A typed list of `type: string` named by `value`, nil for anything else.
  private func typedStringList(_ value: ValueNode) -> ListDefinition? {
    guard case .word(let name, _) = value, let list = lists[name], list.intel?.type == .string else { return nil }
    return list
  }

  /// Why `text`, compared with a name by `comparison` (none of `matches`), can never match it, with
  /// how to write it; nil when it can.
  private static func whyNeverCaptured(_ text: String, _ field: Field, _ comparison: ComparisonOperator) -> String? {
    let folds = comparison.isCaseInsensitive
    if let scalar = text.unicodeScalars.first(where: { PatternShape.neverInName($0) && !(folds && isCapital($0)) }) {
      // Only a capital has an `i…` form that matches it: the others are bytes a name escapes.
      let instead = [.equal, .notEqual, .in].contains(comparison) ? nil : "i\(comparison.rawValue)"
      let fix = instead.flatMap { isCapital(scalar) ? "use '\($0)' or write it " : nil } ?? "write it "
      return "'\(text)' has \(describe(scalar)), but " + nameForm(field)
        + "; \(fix)as capture does: '\(captured(text))'"
    }
    let comparesEnd = [.equal, .notEqual, .in, .endswith, .iendswith].contains(comparison)
    let comparesStart = [.equal, .notEqual, .in, .startswith, .istartswith].contains(comparison)
    if comparesEnd, text.hasSuffix("."), text.count > 1 {
      let bare = String(text.dropLast())
      return "names arrive without the final dot (\(field.name) holds names as capture delivers them: "
        + "docs/EVENTS.md); write '\(bare)'"
    }
    if comparesStart, text.hasPrefix("."), text.count > 1 {
      let parent = String(text.dropFirst())
      let fix =
        comparison == .startswith || comparison == .istartswith
        ? "write it without the dot"
        : "for the names under \(parent) write '\(field.name) endswith \(text)', or use a list of "
          + "'type: domain' with 'match: suffix' for \(parent) and the names under it"
      return "a name never begins with a dot; \(fix)"
    }
    return nil
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

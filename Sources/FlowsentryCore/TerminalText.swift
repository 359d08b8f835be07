/// Text the sensor does not control (a feed's line, a value from a report, a rule file's line) on
/// its way to a terminal or a log: a control character in it can move the cursor, recolour or erase
/// what the reader sees, a bidirectional override, isolate or mark reorders it, and a line or
/// paragraph separator breaks a log line where some viewers split lines (a forged line follows).
/// Such a character is shown as an escape instead, `\u{1B}`, which no terminal acts on; a backslash
/// that starts `u{` is shown as `\u{5C}`, so that a `\u{1B}` the text itself held cannot pass for
/// one the sensor wrote. Every other backslash is kept (a regex in a rule's line reads as written):
/// read left to right, `\u{` always starts an escape, and a backslash before anything else is itself.
public enum TerminalText {
  /// C0 controls (a tab too, unless `allowingTab`), DEL, C1 controls, the bidirectional overrides,
  /// isolates and marks (LRM, RLM, ALM), and the line and paragraph separators.
  public static func isUnsafe(_ scalar: Unicode.Scalar, allowingTab: Bool = false) -> Bool {
    if allowingTab && scalar == "\t" { return false }
    switch scalar.value {
    case 0..<0x20, 0x7F...0x9F: return true
    case 0x061C, 0x200E, 0x200F, 0x2028, 0x2029: return true
    case 0x202A...0x202E, 0x2066...0x2069: return true
    default: return false
    }
  }

  /// `text` with every unsafe scalar written as `\u{XX}`, and a backslash that starts `u{` as
  /// `\u{5C}` (a tab kept: feeds are tab-separated, and a tab moves nothing but the cursor to its next
  /// stop).
  public static func escapingControls(_ text: String) -> String {
    escapingControls(text, splitBefore: 0).text
  }

  /// `escapingControls(text)`, and what of it the first `scalarCount` scalars of `text` became: a
  /// prefix escaped alone could end before the `u{` that makes its last backslash an escape's.
  public static func escapingControls(_ text: String, splitBefore scalarCount: Int) -> (text: String, before: String) {
    let scalars = text.unicodeScalars
    func startsEscape(_ index: String.UnicodeScalarView.Index) -> Bool {
      guard scalars[index] == "\\" else { return false }
      let next = scalars.index(after: index)
      guard next != scalars.endIndex, scalars[next] == "u" else { return false }
      let brace = scalars.index(after: next)
      return brace != scalars.endIndex && scalars[brace] == "{"
    }
    func escaped(_ index: String.UnicodeScalarView.Index) -> Bool {
      isUnsafe(scalars[index], allowingTab: true) || startsEscape(index)
    }
    guard scalars.indices.contains(where: escaped) else {
      return (text, String(String.UnicodeScalarView(scalars.prefix(max(0, scalarCount)))))
    }
    var result = String.UnicodeScalarView()
    var before: String.UnicodeScalarView?
    for (offset, index) in scalars.indices.enumerated() {
      if offset == scalarCount { before = result }
      if escaped(index) {
        result.append(contentsOf: swiftEscape(scalars[index]).unicodeScalars)
      } else {
        result.append(scalars[index])
      }
    }
    return (String(result), String(before ?? result))
  }

  /// `\u{1B}`: how Swift writes a scalar, and how the sensor shows one it will not print.
  public static func swiftEscape(_ scalar: Unicode.Scalar) -> String {
    "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
  }

  /// `text` with each scalar `replaced` accepts written as `replacement` gives it; `text` itself when
  /// none is (the common case, which copies nothing). The one loop behind every escaping of unsafe
  /// text (diagnostics, `rules lookup`'s lines and its JSON).
  public static func replacing(
    in text: String, where replaced: (Unicode.Scalar) -> Bool, with replacement: (Unicode.Scalar) -> String
  ) -> String {
    guard text.unicodeScalars.contains(where: replaced) else { return text }
    var result = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
      if replaced(scalar) {
        result.append(contentsOf: replacement(scalar).unicodeScalars)
      } else {
        result.append(scalar)
      }
    }
    return String(result)
  }
}

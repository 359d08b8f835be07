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
    replacing(
      in: text, splitBefore: scalarCount,
      where: { scalars, index in
        isUnsafe(scalars[index], allowingTab: true) || startsEscape(scalars, at: index)
      },
      with: swiftEscape)
  }

  /// Whether the scalar at `index` is a backslash that, with the `u{` after it, reads as an escape.
  private static func startsEscape(_ scalars: String.UnicodeScalarView, at index: String.UnicodeScalarView.Index)
    -> Bool
  {
    guard scalars[index] == "\\" else { return false }
    return scalars[scalars.index(after: index)...].starts(with: "u{".unicodeScalars)
  }

  /// `\u{1B}`: how Swift writes a scalar, and how the sensor shows one it will not print.
  public static func swiftEscape(_ scalar: Unicode.Scalar) -> String {
    "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
  }

  /// `text` with each scalar `replaced` accepts written as `replacement` gives it; `text` itself when
  /// none is (the common case, which copies nothing).
  public static func replacing(
    in text: String, where replaced: (Unicode.Scalar) -> Bool, with replacement: (Unicode.Scalar) -> String
  ) -> String {
    replacing(in: text, splitBefore: 0, where: { replaced($0[$1]) }, with: replacement).text
  }

  /// The one loop behind every escaping of unsafe text (diagnostics, `rules lookup`'s lines and its
  /// JSON). `replaced` sees the scalar in place, since whether a backslash is escaped depends on what
  /// follows it; `before` is what the first `scalarCount` scalars became, for a caret under a column.
  private static func replacing(
    in text: String, splitBefore scalarCount: Int,
    where replaced: (String.UnicodeScalarView, String.UnicodeScalarView.Index) -> Bool,
    with replacement: (Unicode.Scalar) -> String
  ) -> (text: String, before: String) {
    let scalars = text.unicodeScalars
    guard scalars.indices.contains(where: { replaced(scalars, $0) }) else {
      return (text, String(String.UnicodeScalarView(scalars.prefix(max(0, scalarCount)))))
    }
    var result = String.UnicodeScalarView()
    var before: String.UnicodeScalarView?
    for (offset, index) in scalars.indices.enumerated() {
      if offset == scalarCount { before = result }
      if replaced(scalars, index) {
        result.append(contentsOf: replacement(scalars[index]).unicodeScalars)
      } else {
        result.append(scalars[index])
      }
    }
    return (String(result), String(before ?? result))
  }
}

/// Text the sensor does not control (a feed's line, a value from a report, a rule file's line) on
/// its way to a terminal or a log: a control character in it can move the cursor, recolour or erase
/// what the reader sees, a bidirectional override, isolate or mark reorders it, and a line or
/// paragraph separator breaks a log line where some viewers split lines (a forged line follows).
/// Such a character is shown as an escape instead, `\u{1B}`, which no terminal acts on; a backslash
/// is shown as `\\`, so that a `\u{1B}` the text itself held cannot pass for one the sensor wrote.
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

  /// `text` with every unsafe scalar written as `\u{XX}` and each backslash as `\\` (a tab kept:
  /// feeds are tab-separated, and a tab moves nothing but the cursor to its next stop).
  public static func escapingControls(_ text: String) -> String {
    replacing(
      in: text, where: { $0 == "\\" || isUnsafe($0, allowingTab: true) },
      with: { $0 == "\\" ? "\\\\" : swiftEscape($0) })
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

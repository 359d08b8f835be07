/// Text the sensor does not control (a feed's line, a value from a report, a rule file's line) on
/// its way to a terminal or a log: a control character in it can move the cursor, recolour or erase
/// what the reader sees, and a bidirectional override or isolate reorders it. Such a character is
/// shown as an escape instead, `\u{1B}`, which no terminal acts on.
public enum TerminalText {
  /// C0 controls (a tab too, unless `allowingTab`), DEL, C1 controls, and the bidirectional
  /// overrides and isolates.
  public static func isUnsafe(_ scalar: Unicode.Scalar, allowingTab: Bool = false) -> Bool {
    if allowingTab && scalar == "\t" { return false }
    return scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || (0x202A...0x202E).contains(scalar.value)
      || (0x2066...0x2069).contains(scalar.value)
  }

  /// `text` with every unsafe scalar written as `\u{XX}` (a tab kept: feeds are tab-separated, and a
  /// tab moves nothing but the cursor to its next stop).
  public static func escapingControls(_ text: String) -> String {
    replacing(in: text, where: { isUnsafe($0, allowingTab: true) }, with: swiftEscape)
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

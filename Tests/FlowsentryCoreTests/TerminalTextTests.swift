import Testing

@testable import FlowsentryCore

/// What TerminalText prints must read one way only: an escape the sensor wrote cannot be forged by
/// the text itself, and no scalar of the text reorders or splits the line it is on.
@Suite struct TerminalTextTests {
  @Test func aBackslashIsEscapedSoALiteralEscapeCannotPassForOne() {
    let literal = TerminalText.escapingControls("a\\u{1B}b")
    let control = TerminalText.escapingControls("a\u{1B}b")
    #expect(literal == "a\\\\u{1B}b")
    #expect(control == "a\\u{1B}b")
    #expect(literal != control)
    #expect(TerminalText.escapingControls("C:\\feeds") == "C:\\\\feeds")
  }

  @Test func bidirectionalMarksAndLineSeparatorsAreEscaped() {
    for (scalar, escape) in [
      ("\u{200E}", "\\u{200E}"), ("\u{200F}", "\\u{200F}"), ("\u{061C}", "\\u{61C}"),
      ("\u{2028}", "\\u{2028}"), ("\u{2029}", "\\u{2029}"),
    ] {
      #expect(TerminalText.isUnsafe(scalar.unicodeScalars.first!), "\(escape)")
      #expect(TerminalText.escapingControls("x" + scalar + "y") == "x" + escape + "y")
    }
    // Neighbours of those ranges are ordinary text.
    for scalar in ["\u{200D}", "\u{2010}", "\u{061B}", "\u{202F}", "é"] {
      #expect(!TerminalText.isUnsafe(scalar.unicodeScalars.first!), "\(scalar)")
    }
  }

  /// A forged log line: a separator and a second "line" that imitates the sensor's own.
  @Test func aDiagnosticCannotBeSplitOrForged() {
    let diagnostic = Diagnostic(
      .warning, file: "feeds/x.txt", line: 1, column: 1,
      message: "'evil\u{2028}feeds/x.txt:2:1: warning: \\u{1B} ok' is not an address")
    let text = diagnostic.description
    #expect(!text.unicodeScalars.contains { $0.value == 0x2028 })
    #expect(
      text == "feeds/x.txt:1:1: warning: 'evil\\u{2028}feeds/x.txt:2:1: warning: \\\\u{1B} ok' is not an address")
  }

  /// A backslash widens the escaped line by one before the column: the caret moves with it.
  @Test func theCaretStaysUnderItsColumnPastABackslash() {
    let diagnostic = Diagnostic(
      .error, file: "r.yaml", line: 2, column: 5, message: "bad", sourceLine: "a\\b\tc\u{200F}d")
    let lines = diagnostic.description.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    #expect(lines[1] == "a\\\\b\tc\\u{200F}d")
    #expect(lines[2] == "    \t^")
    #expect(Array(lines[1].unicodeScalars)[lines[2].unicodeScalars.count - 1] == "c")
  }
}

import Testing

@testable import FlowsentryCore

/// What TerminalText prints must read one way only: an escape the sensor wrote cannot be forged by
/// the text itself, and no scalar of the text reorders or splits the line it is on.
@Suite struct TerminalTextTests {
  @Test func aBackslashStartingAnEscapeIsEscapedSoALiteralEscapeCannotPassForOne() {
    let literal = TerminalText.escapingControls("a\\u{1B}b")
    let control = TerminalText.escapingControls("a\u{1B}b")
    #expect(literal == "a\\u{5C}u{1B}b")
    #expect(control == "a\\u{1B}b")
    #expect(literal != control)
    // Any other backslash is the text's own: a regex or a path reads as written.
    #expect(TerminalText.escapingControls("C:\\feeds") == "C:\\feeds")
    #expect(TerminalText.escapingControls("'\\.(top|xyz)$'") == "'\\.(top|xyz)$'")
    #expect(TerminalText.escapingControls("\\u") == "\\u")
    #expect(TerminalText.escapingControls("\\u{") == "\\u{5C}u{")
    // A backslash before an escaped control, and a doubled backslash before `u{`.
    #expect(TerminalText.escapingControls("\\\u{1B}") == "\\\\u{1B}")
    #expect(TerminalText.escapingControls("\\\\u{1B}") == "\\\\u{5C}u{1B}")
  }

  /// Reading an escaped text back, left to right (`\u{HEX}` is an escape, any other scalar itself),
  /// gives the text again: no two texts print alike.
  @Test func escapedTextReadsBackToTheText() {
    func unescape(_ text: String) -> String {
      var result = String.UnicodeScalarView()
      var rest = Substring(text).unicodeScalars[...]
      while let first = rest.first {
        if first == "\\", rest.dropFirst().starts(with: "u{".unicodeScalars),
          let close = rest.firstIndex(of: "}")
        {
          let hex = String(String.UnicodeScalarView(rest[rest.index(rest.startIndex, offsetBy: 3)..<close]))
          result.append(Unicode.Scalar(UInt32(hex, radix: 16)!)!)
          rest = rest[rest.index(after: close)...]
        } else {
          result.append(first)
          rest = rest.dropFirst()
        }
      }
      return String(result)
    }
    var random = SeededRandom(seed: 7)
    let alphabet: [Unicode.Scalar] = ["\\", "u", "{", "}", "1", "B", "a", "\u{1B}", "\u{2028}", "\u{200F}", "\t", "\n"]
    for _ in 0..<2_000 {
      var text = String.UnicodeScalarView()
      for _ in 0..<Int(random.next() % 12) { text.append(alphabet[Int(random.next() % UInt64(alphabet.count))]) }
      let original = String(text)
      let escaped = TerminalText.escapingControls(original)
      #expect(!escaped.unicodeScalars.contains { TerminalText.isUnsafe($0, allowingTab: true) })
      #expect(unescape(escaped) == original, "\(original.debugDescription) -> \(escaped.debugDescription)")
    }
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
      text == "feeds/x.txt:1:1: warning: 'evil\\u{2028}feeds/x.txt:2:1: warning: \\u{5C}u{1B} ok' is not an address")
  }

  /// An escaped backslash widens the line before the column: the caret moves with it.
  @Test func theCaretStaysUnderItsColumnPastAnEscapedBackslash() {
    let diagnostic = Diagnostic(
      .error, file: "r.yaml", line: 2, column: 7, message: "bad", sourceLine: "a\\u{b\tc\u{200F}d")
    let lines = diagnostic.description.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    #expect(lines[1] == "a\\u{5C}u{b\tc\\u{200F}d")
    #expect(lines[2] == "          \t^")
    #expect(Array(lines[1].unicodeScalars)[lines[2].unicodeScalars.count - 1] == "c")
    // The column on the `u` of an escaped backslash: the backslash before it is escaped whole.
    let atU = Diagnostic(.error, file: "r.yaml", line: 1, column: 3, message: "bad", sourceLine: "a\\u{1}")
    let atULines = atU.description.split(separator: "\n").map(String.init)
    #expect(atULines[1] == "a\\u{5C}u{1}")
    #expect(atULines[2] == "       ^")
  }
}

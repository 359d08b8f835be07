import Testing

@testable import FlowsentryCore

/// A diagnostic quotes a feed's or rule file's bytes (the message's excerpt, the source line): what
/// it prints must not drive the terminal it is printed on, nor move the caret off its column.
@Suite struct DiagnosticEscapingTests {
  @Test func controlCharactersAreEscapedAndTheCaretFollows() {
    let diagnostic = Diagnostic(
      .warning, file: "feeds/bad.txt", line: 3, column: 9,
      message: "'\u{1B}[31mEVIL' is not an IPv4 or IPv6 address",
      sourceLine: "\u{1B}[31m\tEVIL\u{202E}x")
    let text = diagnostic.description
    #expect(!text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x202E }, "\(text)")
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    #expect(lines[0] == "feeds/bad.txt:3:9: warning: '\\u{1B}[31mEVIL' is not an IPv4 or IPv6 address")
    // The tab is kept (feeds are tab-separated); ESC [ 3 1 m before it is written as 9 characters.
    #expect(lines[1] == "\\u{1B}[31m\tEVIL\\u{202E}x")
    // Column 9 is the `I` after ESC [ 3 1 m TAB E V; escaped, ESC is 6 characters, so the `I` is 13
    // in, the tab among them kept so that a terminal widens the caret's line as it does the text's.
    #expect(lines[2] == String(repeating: " ", count: 10) + "\t" + "  ^")
    let caretUnder = Array(lines[1].unicodeScalars)[13]
    #expect(caretUnder == "I")
  }

  @Test func plainTextIsUnchanged() {
    let diagnostic = Diagnostic(.error, file: "r.yaml", line: 1, column: 3, message: "bad", sourceLine: "a\tbc")
    #expect(diagnostic.description == "r.yaml:1:3: error: bad\na\tbc\n \t^")
    #expect(TerminalText.escapingControls("évil.example\t") == "évil.example\t")
  }
}

import Testing

@testable import FlowsentryCore

/// A long source line is shown cut around the caret, the column in the message the file's.
@Suite struct DiagnosticWindowTests {
  @Test func aLongLineIsCutAroundTheCaret() {
    let line = String(repeating: "a", count: 50_000) + "X" + String(repeating: "b", count: 50_000)
    let text = Diagnostic(.error, file: "f", line: 1, column: 50_001, message: "m", sourceLine: line).description
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    #expect(lines[0] == "f:1:50001: error: m")
    #expect(lines[1].hasPrefix("…") && lines[1].hasSuffix("…"))
    #expect(lines[1].unicodeScalars.count == Diagnostic.shownLineWidth + 2)
    let caret = lines[2].unicodeScalars.count - 1
    #expect(Array(lines[1].unicodeScalars)[caret] == "X")
  }

  @Test func theStartAndShortLinesAreShownAsBefore() {
    let long = String(repeating: "c", count: 1_000)
    let start = Diagnostic(.error, file: "f", line: 1, column: 1, message: "m", sourceLine: long).description
    let shown = start.split(separator: "\n").map(String.init)
    #expect(!shown[1].hasPrefix("…") && shown[1].hasSuffix("…") && shown[2] == "^")
    let short = Diagnostic(.error, file: "f", line: 1, column: 3, message: "m", sourceLine: "abcdef").description
    #expect(short == "f:1:3: error: m\nabcdef\n  ^")
  }
}

/// A problem in a rule or configuration file, positioned so that an editor can jump to it.
public struct Diagnostic: Error, Sendable, Equatable, CustomStringConvertible {
  public enum Severity: String, Sendable { case error, warning }

  public var severity: Severity
  public var file: String
  /// 1-based.
  public var line: Int
  /// 1-based, in Unicode scalars.
  public var column: Int
  public var message: String
  /// The offending source line, shown with a caret under `column`.
  public var sourceLine: String?

  public init(
    _ severity: Severity, file: String, line: Int, column: Int, message: String, sourceLine: String? = nil
  ) {
    self.severity = severity
    self.file = file
    self.line = line
    self.column = column
    self.message = message
    self.sourceLine = sourceLine
  }

  /// `file:line:col: error: message`, then the line and a caret, as compilers print them. The
  /// message may quote a feed's bytes and the line is a file's: control characters in either are
  /// shown escaped (`TerminalText`), and the caret stays under the column in the escaped line (a tab
  /// before it is kept in the caret's line, so that a terminal widens both alike).
  public var description: String {
    var text =
      "\(TerminalText.escapingControls(file)):\(line):\(column): \(severity.rawValue): "
      + TerminalText.escapingControls(message)
    if let sourceLine {
      let (escapedLine, before) = TerminalText.escapingControls(sourceLine, splitBefore: max(0, column - 1))
      let (shown, prefix) = Self.window(escapedLine, caret: before.unicodeScalars.count)
      let padding = String(String.UnicodeScalarView(prefix.unicodeScalars.map { $0 == "\t" ? "\t" : " " }))
      text += "\n" + shown + "\n" + padding + "^"
    }
    return text
  }

  /// Scalars of the source line shown at most: a 100,000-character pattern's line, echoed whole,
  /// buries the message and the caret.
  public static let shownLineWidth = 160

  /// `line` cut to `shownLineWidth` scalars around the caret, `…` where it was cut, and what of it
  /// comes before the caret (for the caret's padding). The column in the message stays the file's.
  static func window(_ line: String, caret: Int) -> (shown: String, beforeCaret: String) {
    let scalars = Array(line.unicodeScalars)
    guard scalars.count > shownLineWidth else {
      return (line, String(String.UnicodeScalarView(scalars.prefix(caret))))
    }
    let caret = min(caret, scalars.count)
    var start = max(0, caret - shownLineWidth / 2)
    let end = min(scalars.count, start + shownLineWidth)
    start = max(0, end - shownLineWidth)
    let head = start > 0 ? "…" : ""
    let tail = end < scalars.count ? "…" : ""
    let shown = head + String(String.UnicodeScalarView(scalars[start..<end])) + tail
    return (shown, head + String(String.UnicodeScalarView(scalars[start..<caret])))
  }
}

import FlowsentryCore
import Yams

extension RuleSetBuilder {
  /// What an `output` may hold besides event fields, for the error that names an unknown one.
  static let placeholders =
    "an event field, or count, window, group, score, period, jitter, indicator, indicator.list, indicator.source"

  /// `output:`, a text with `{placeholder}`s; the rule's name when it has none.
  mutating func compileTemplate(_ node: Node?, _ file: String, _ here: SourceLocation, default fallback: String)
    -> OutputTemplate
  {
    guard let node, var text = node.string else { return OutputTemplate(pieces: [.text(fallback)]) }
    // A block scalar ('output: >') ends with a line break that is not part of the text.
    while text.hasSuffix("\n") { text.removeLast() }
    _ = checkPrintable(text, node, "output", file)
    var pieces: [OutputTemplate.Piece] = []
    var rest = Substring(text)
    let start = location(node, file)
    while let open = rest.firstIndex(of: "{") {
      pieces.append(.text(String(rest[..<open])))
      guard let close = rest[open...].firstIndex(of: "}") else {
        report(.error, start, "unclosed '{' in output")
        break
      }
      let name = String(rest[rest.index(after: open)..<close])
      switch name {
      case "count": pieces.append(.count)
      case "window": pieces.append(.window)
      case "group": pieces.append(.group)
      case "score", "period", "jitter": pieces.append(.measurement(name))
      case "indicator": pieces.append(.indicator(\.indicator))
      case "indicator.list": pieces.append(.indicator(\.list))
      case "indicator.source": pieces.append(.indicator(\.source))
      default:
        if let field = Fields.byName[name] {
          pieces.append(.field(field))
        } else {
          report(.error, start, "unknown placeholder '{\(name)}' in output (\(Self.placeholders))")
        }
      }
      rest = rest[rest.index(after: close)...]
    }
    pieces.append(.text(String(rest)))
    return OutputTemplate(pieces: pieces)
  }
}

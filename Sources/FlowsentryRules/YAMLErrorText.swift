import Yams

/// A YAML error as one positioned diagnostic says it: where it is, and what (the context and the
/// problem). Yams' own description runs over several lines with its copy of the source line and a
/// caret, which a diagnostic prints itself.
public enum YAMLErrorText {
  /// 1-based line and column, when the parser knew them.
  public static func position(_ error: Error) -> (line: Int, column: Int)? {
    switch error as? YamlError {
    case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
      return (mark.line, mark.column)
    default:
      return nil
    }
  }

  public static func message(_ error: Error) -> String {
    switch error as? YamlError {
    case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
      .composer(let context, let problem, _, _):
      return [context?.text, problem].compactMap { $0 }.joined(separator: ": ")
    default:
      return "\(error)".split(separator: "\n").joined(separator: "; ")
    }
  }
}

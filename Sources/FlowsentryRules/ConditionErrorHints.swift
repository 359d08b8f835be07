/// What the builder adds to a condition's compile error or takes from the compiler after one.
extension RuleSetBuilder {
  /// The compiler's warnings so far, as diagnostics (each is reported once: a macro's, at its first use).
  mutating func takeWarnings(_ compiler: ConditionCompiler) {
    for warning in compiler.warnings { report(.warning, warning.location, warning.message) }
    compiler.warnings = []
  }

  /// `error`'s message, with a hint when a string is unterminated because YAML cut the condition:
  /// in a plain scalar ` #` starts a comment, so `matches 'evil #1\.com$'` reaches the condition
  /// as `matches 'evil`. Said when the file's line has ` #` after the opening quote and the
  /// condition's text has no `#` (had YAML kept it, the `#` would be in the text).
  func hinted(_ error: CompileError, _ text: ConditionText? = nil) -> String {
    guard error.message == "unterminated string",
      let lines = sourceLines[error.location.file], lines.indices.contains(error.location.line - 1)
    else { return error.message }
    let line = lines[error.location.line - 1].unicodeScalars
    let after = String(String.UnicodeScalarView(line.dropFirst(max(0, error.location.column))))
    guard after.contains(" #") || after.contains("\t#"), !(text?.text.contains("#") ?? false) else {
      return error.message
    }
    return error.message
      + " (YAML took the ' #' after it for the start of a comment and cut the condition there: quote the "
      + "whole condition, or write it as a '>' or '|' block)"
  }
}

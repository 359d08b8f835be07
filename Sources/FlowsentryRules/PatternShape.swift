/// What a regex's text alone says for certain, for load-time warnings (ConditionWarnings.swift).
/// Each answer is conservative: a construct these scans do not fully follow (inline options, `\Q`,
/// verbs, lookarounds, numeric escapes) makes them answer nothing, since a warning that can be
/// wrong is worse than none. Patterns are in PCRE2's syntax, compiled with UTF and no other option.
enum PatternShape {
  /// Escapes of a letter that match a class or an assertion: the letter is not a literal.
  static let classEscapes = Set("dDwWsSbBAzZGhHvVRXKnrtfea".unicodeScalars)

  /// Whether a DNS name as capture writes it (lower case, printable ASCII) can never hold `scalar`.
  static func neverInName(_ scalar: Unicode.Scalar) -> Bool {
    ("A"..."Z").contains(scalar) || scalar.value <= 0x20 || scalar.value >= 0x7f
  }

  /// The index (in scalars) of the first literal in `pattern` that every match must contain and that
  /// a DNS name never holds (`E` in `EvilCorp\.com$`, matched case-sensitively), or nil when there
  /// is none or the pattern uses a construct this scan does not follow. Only the top level counts
  /// (never inside a group, which may be optional or an alternation) and never with `|` there.
  static func requiredLiteralNeverInName(_ pattern: String) -> Int? {
    let scalars = Array(pattern.unicodeScalars)
    var depth = 0
    var found: Int?
    for token in PatternToken.tokens(scalars) {
      switch token.kind {
      case .unterminated, .quoted, .construct, .group(.named):
        return nil
      case .escape(let next):
        if isLetterOrDigit(next) {
          // `\x41`, `\cA`, `\101`, `\p{Lu}`, `\k<Name>`: not followed here.
          guard next.isASCII, classEscapes.contains(next) else { return nil }
        } else if depth == 0, found == nil, neverInName(next), !isOptional(scalars, after: token.end) {
          found = token.start + 1
        }
      case .plain(let scalar):
        if depth == 0, found == nil, neverInName(scalar), !isOptional(scalars, after: token.end) { found = token.start }
      case .characterClass:
        break
      case .group:
        depth += 1
      case .close:
        depth -= 1
      case .alternation:
        if depth == 0 { return nil }
      }
    }
    return found
  }

  /// Whether nothing in `pattern` depends on where in the subject it is matched (no anchor, no
  /// lookaround, no back-reference, no verb or conditional): then a pattern that matches the
  /// empty subject matches at the start of every subject.
  static func isContextFree(_ pattern: String) -> Bool {
    for token in PatternToken.tokens(Array(pattern.unicodeScalars)) {
      switch token.kind {
      case .plain("^"), .plain("$"), .unterminated, .quoted, .construct, .group(.named):
        return false
      case .escape(let next):
        // Only escapes that match a character class or one character are known context-free.
        if isLetterOrDigit(next), !"dDwWsShHvVRXnrtfe".unicodeScalars.contains(next) { return false }
      case .plain, .characterClass, .group, .close, .alternation:
        break
      }
    }
    return true
  }

  /// The index of the first `|` outside every group with nothing on one side of it (`^evil|`,
  /// `|x$`, `a||b`): that alternative matches the empty string anywhere, so the pattern is true of
  /// every value. Inside a group (`^(www\.|)example\.com$`) an empty alternative is an idiom for an
  /// optional part, and is not named. Nil when there is none or the pattern uses a construct this
  /// scan does not follow.
  static func emptyAlternative(_ pattern: String) -> Int? {
    let scalars = Array(pattern.unicodeScalars)
    /// Where the current alternative began: just past `(`, `(?:` or `|`, or the start.
    var alternativeStart = 0
    var depth = 0
    for token in PatternToken.tokens(scalars) {
      switch token.kind {
      case .unterminated, .quoted, .construct, .group(.named):
        return nil
      case .group:
        depth += 1
        alternativeStart = token.end
      case .close:
        depth = max(0, depth - 1)
      case .alternation:
        let next = token.end < scalars.count ? scalars[token.end] : nil
        if depth == 0 && (token.start == alternativeStart || next == nil || next == "|") { return token.start }
        alternativeStart = token.end
      case .plain, .escape, .characterClass:
        break
      }
    }
    return nil
  }

  /// A letter or a digit after `\` names a class, an assertion or a code point, not itself.
  static func isLetterOrDigit(_ scalar: Unicode.Scalar) -> Bool {
    scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
  }

  /// Whether the piece ending at `end` may be matched zero times: `?`, `*` or a `{` (taken as a
  /// quantifier that may be `{0,…}`) follows it.
  static func isOptional(_ scalars: [Unicode.Scalar], after end: Int) -> Bool {
    guard end < scalars.count else { return false }
    return ["?", "*", "{"].contains(scalars[end])
  }

  /// The index of the `]` that closes the class opening at `start` (PCRE2's rules: a `]` first,
  /// after an optional `^`, is a member; `\` escapes; `[:name:]` is a POSIX class), nil if none.
  static func classEnd(_ scalars: [Unicode.Scalar], from start: Int) -> Int? {
    var index = start + 1
    if index < scalars.count, scalars[index] == "^" { index += 1 }
    if index < scalars.count, scalars[index] == "]" { index += 1 }
    while index < scalars.count {
      switch scalars[index] {
      case "\\":
        index += 2
      case "[" where index + 1 < scalars.count && [":", ".", "="].contains(scalars[index + 1]):
        let delimiter = scalars[index + 1]
        var end = index + 2
        while end + 1 < scalars.count, !(scalars[end] == delimiter && scalars[end + 1] == "]") { end += 1 }
        guard end + 1 < scalars.count else { return nil }
        index = end + 2
      case "]":
        return index
      default:
        index += 1
      }
    }
    return nil
  }
}

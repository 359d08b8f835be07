/// What a regex's text alone says for certain, for load-time warnings (ConditionWarnings.swift).
/// Each answer is conservative: a construct these scans do not fully follow (inline options, `\Q`,
/// verbs, lookarounds, numeric escapes) makes them answer nothing, since a warning that can be
/// wrong is worse than none. Patterns are in PCRE2's syntax, compiled with UTF and no other option.
enum PatternShape {
  /// Escapes of a letter that match a class or an assertion: the letter is not a literal.
  private static let classEscapes = Set("dDwWsSbBAzZGhHvVRXKnrtfea".unicodeScalars)

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
    var index = 0
    func optional(after position: Int) -> Bool {
      guard position < scalars.count else { return false }
      return ["?", "*", "{"].contains(scalars[position])
    }
    while index < scalars.count {
      let scalar = scalars[index]
      switch scalar {
      case "\\":
        guard index + 1 < scalars.count else { return nil }
        let next = scalars[index + 1]
        if next.properties.isAlphabetic || ("0"..."9").contains(next) {
          // `\x41`, `\cA`, `\101`, `\p{Lu}`, `\k<Name>`, `\Q…\E`: not followed here.
          guard next.isASCII, classEscapes.contains(next) else { return nil }
        } else if depth == 0, found == nil, neverInName(next), !optional(after: index + 2) {
          found = index + 1
        }
        index += 2
      case "[":
        guard let end = classEnd(scalars, from: index) else { return nil }
        index = end + 1
      case "(":
        if index + 1 < scalars.count, scalars[index + 1] == "*" { return nil }
        if index + 1 < scalars.count, scalars[index + 1] == "?" {
          guard index + 2 < scalars.count, scalars[index + 2] == ":" else { return nil }
        }
        depth += 1
        index += 1
      case ")":
        depth -= 1
        index += 1
      case "|":
        if depth == 0 { return nil }
        index += 1
      default:
        if depth == 0, found == nil, neverInName(scalar), !optional(after: index + 1) { found = index }
        index += 1
      }
    }
    return found
  }

  /// Whether nothing in `pattern` depends on where in the subject it is matched (no anchor, no
  /// lookaround, no back-reference, no verb or conditional): then a pattern that matches the
  /// empty subject matches at the start of every subject.
  static func isContextFree(_ pattern: String) -> Bool {
    let scalars = Array(pattern.unicodeScalars)
    var index = 0
    while index < scalars.count {
      switch scalars[index] {
      case "^", "$": return false
      case "\\":
        guard index + 1 < scalars.count else { return false }
        let next = scalars[index + 1]
        if next.properties.isAlphabetic || ("0"..."9").contains(next) {
          // Only escapes that match a character class or one character are known context-free.
          guard "dDwWsShHvVRXnrtfe".unicodeScalars.contains(next) else { return false }
        }
        index += 2
      case "[":
        guard let end = classEnd(scalars, from: index) else { return false }
        index = end + 1
      case "(":
        if index + 1 < scalars.count, scalars[index + 1] == "*" { return false }
        if index + 1 < scalars.count, scalars[index + 1] == "?" {
          guard index + 2 < scalars.count, scalars[index + 2] == ":" else { return false }
        }
        index += 1
      default:
        index += 1
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
    var index = 0
    /// Where the current alternative began: just past `(`, `(?:` or `|`, or the start.
    var alternativeStart = 0
    var depth = 0
    while index < scalars.count {
      switch scalars[index] {
      case "\\":
        guard index + 1 < scalars.count else { return nil }
        if scalars[index + 1] == "Q" { return nil }
        index += 2
      case "[":
        guard let end = classEnd(scalars, from: index) else { return nil }
        index = end + 1
      case "(":
        if index + 1 < scalars.count, scalars[index + 1] == "*" { return nil }
        if index + 1 < scalars.count, scalars[index + 1] == "?" {
          guard index + 2 < scalars.count, scalars[index + 2] == ":" else { return nil }
          index += 3
        } else {
          index += 1
        }
        depth += 1
        alternativeStart = index
      case ")":
        depth = max(0, depth - 1)
        index += 1
      case "|":
        let next = index + 1 < scalars.count ? scalars[index + 1] : nil
        if depth == 0 && (index == alternativeStart || next == nil || next == "|") { return index }
        index += 1
        alternativeStart = index
      default:
        index += 1
      }
    }
    return nil
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

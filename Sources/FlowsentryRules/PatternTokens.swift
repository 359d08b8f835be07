/// A regex in PCRE2's syntax cut into the pieces PatternShape's scans step over: each scan decides
/// what a piece means to it, and all of them agree on where an escape, a class, a group or a quoted
/// run begins and ends.
struct PatternToken: Equatable {
  enum Kind: Equatable {
    /// One character written as itself, metacharacters such as `^ $ . ? * + {` included: a scan
    /// looks at those by value.
    case plain(Unicode.Scalar)
    /// `\` and the one scalar after it (`\.`, `\d`, or the `\x` of `\x{41}`, whose braces follow as
    /// plain pieces).
    case escape(Unicode.Scalar)
    /// `\Q…\E`, or `\Q` to the end of the pattern.
    case quoted
    /// `[…]`, closed by PCRE2's rules (`PatternShape.classEnd`).
    case characterClass
    case group(GroupOpening)
    /// `(?` with anything but a non-capturing or named group after it (options, lookarounds,
    /// atomic groups, conditionals, comments), or a verb `(*…`: only its `(` is taken.
    case construct
    case close
    case alternation
    /// What cannot be stepped over: a `\` ending the pattern, a `[` never closed. It takes the rest.
    case unterminated
  }

  enum GroupOpening: Equatable {
    /// `(`
    case capturing
    /// `(?:`
    case nonCapturing
    /// `(?<name>`, `(?P<name>`, `(?'name'`
    case named
  }

  var kind: Kind
  /// The piece is the pattern's scalars `start..<end`.
  var start: Int
  var end: Int

  /// The pieces of `scalars`, in order, covering every scalar once.
  static func tokens(_ scalars: [Unicode.Scalar]) -> [PatternToken] {
    var tokens: [PatternToken] = []
    var index = 0
    func scalar(_ offset: Int) -> Unicode.Scalar? { offset < scalars.count ? scalars[offset] : nil }
    while index < scalars.count {
      let start = index
      let kind: Kind
      switch scalars[index] {
      case "\\":
        guard let next = scalar(index + 1) else {
          tokens.append(PatternToken(kind: .unterminated, start: start, end: scalars.count))
          return tokens
        }
        if next == "Q" {
          var end = index + 2
          while end < scalars.count, !(scalars[end] == "\\" && scalar(end + 1) == "E") { end += 1 }
          index = min(end + 2, scalars.count)
          kind = .quoted
        } else {
          index += 2
          kind = .escape(next)
        }
      case "[":
        guard let end = PatternShape.classEnd(scalars, from: index) else {
          tokens.append(PatternToken(kind: .unterminated, start: start, end: scalars.count))
          return tokens
        }
        index = end + 1
        kind = .characterClass
      case "(":
        (kind, index) = opening(scalars, at: index)
      case ")":
        index += 1
        kind = .close
      case "|":
        index += 1
        kind = .alternation
      case let other:
        index += 1
        kind = .plain(other)
      }
      tokens.append(PatternToken(kind: kind, start: start, end: index))
    }
    return tokens
  }

  /// The piece a `(` at `index` opens, and where the piece ends.
  private static func opening(_ scalars: [Unicode.Scalar], at index: Int) -> (Kind, Int) {
    func scalar(_ offset: Int) -> Unicode.Scalar? { offset < scalars.count ? scalars[offset] : nil }
    guard scalar(index + 1) == "?" else {
      return scalar(index + 1) == "*" ? (.construct, index + 1) : (.group(.capturing), index + 1)
    }
    if scalar(index + 2) == ":" { return (.group(.nonCapturing), index + 3) }
    // A name starts after `(?<` (not a lookbehind's `(?<=` or `(?<!`), `(?P<` or `(?'`.
    var nameStart: Int?
    var terminator: Unicode.Scalar = ">"
    switch scalar(index + 2) {
    case "<" where scalar(index + 3) != "=" && scalar(index + 3) != "!": nameStart = index + 3
    case "P" where scalar(index + 3) == "<": nameStart = index + 4
    case "'":
      nameStart = index + 3
      terminator = "'"
    default: break
    }
    guard var end = nameStart else { return (.construct, index + 1) }
    while let next = scalar(end),
      next == "_" || (next.isASCII && next.properties.isAlphabetic)
        || ("0"..."9").contains(next)
    {
      end += 1
    }
    guard end > nameStart!, scalar(end) == terminator else { return (.construct, index + 1) }
    return (.group(.named), end + 1)
  }
}

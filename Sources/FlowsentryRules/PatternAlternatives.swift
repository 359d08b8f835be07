/// Alternatives a case-sensitive regex on a DNS name field can never take (ConditionWarnings.swift).
extension PatternShape {
  /// A dead alternative: the pattern's scalars `range`, the index of the literal in it that a name
  /// never holds, and how many other alternatives are dead too.
  struct DeadAlternative: Equatable {
    var range: Range<Int>
    var literal: Int
    var others: Int
  }

  /// The first alternative of a group (or of the whole pattern, `0..<count` when it has no `|` at its top) that
  /// cannot match without a literal a DNS name never holds (`Evil` in `^(Evil|bad)\.com$`): live,
  /// that alternative is never taken. A literal counts when its alternative needs it: outside a
  /// class, not made optional by `?`, `*` or `{`, and not in a group of its own inside the
  /// alternative, unless that group has no `|` and is not optional (`(Evil)\.com`). Nil when there
  /// is none or the pattern uses a construct this scan does not follow (inline options such as
  /// `(?i)`, lookarounds, verbs, `\Q…\E`, numeric and property escapes): a warning that can be
  /// wrong is worse than none.
  static func deadAlternative(_ pattern: String) -> DeadAlternative? {
    let scalars = Array(pattern.unicodeScalars)
    /// A group being read (the pattern's top level is the first): where its current alternative
    /// began, that alternative's first needed literal, whether the group has `|`, and its
    /// alternatives found dead so far.
    struct Frame {
      var start: Int
      var literal: Int?
      var alternates = false
      var dead: [(Range<Int>, Int)] = []

      mutating func endAlternative(at end: Int) {
        if let literal { dead.append((start..<end, literal)) }
      }
    }
    var frames = [Frame(start: 0)]
    var dead: [(Range<Int>, Int)] = []
    func need(_ index: Int) {
      if frames[frames.count - 1].literal == nil { frames[frames.count - 1].literal = index }
    }
    for token in PatternToken.tokens(scalars) {
      switch token.kind {
      case .unterminated, .quoted, .construct:
        return nil
      case .escape(let next):
        if isLetterOrDigit(next) {
          guard next.isASCII, classEscapes.contains(next) else { return nil }
        } else if neverInName(next), !isOptional(scalars, after: token.end) {
          need(token.start + 1)
        }
      case .plain(let scalar):
        if neverInName(scalar), !isOptional(scalars, after: token.end) { need(token.start) }
      case .characterClass:
        break
      case .group:
        frames.append(Frame(start: token.end))
      case .alternation:
        frames[frames.count - 1].endAlternative(at: token.start)
        frames[frames.count - 1].start = token.end
        frames[frames.count - 1].literal = nil
        frames[frames.count - 1].alternates = true
      case .close:
        guard frames.count > 1 else { return nil }
        var group = frames.removeLast()
        if group.alternates {
          group.endAlternative(at: token.start)
          dead += group.dead
        } else if let literal = group.literal, !isOptional(scalars, after: token.end) {
          // A group without `|` that must match is part of its alternative, as its letters are.
          need(literal)
        }
      }
    }
    guard frames.count == 1 else { return nil }
    // Without `|` at the top, the whole pattern is the one alternative (its range says so).
    var top = frames[0]
    top.endAlternative(at: scalars.count)
    dead += top.dead
    guard let first = dead.min(by: { $0.1 < $1.1 }) else { return nil }
    return DeadAlternative(range: first.0, literal: first.1, others: dead.count - 1)
  }
}

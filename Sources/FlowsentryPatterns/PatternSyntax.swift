/// Why a pattern's text alone keeps it out of Hyperscan.
enum PCRE2OnlyCause: Equatable {
  /// A `(*VERB)` or callout-like `(*…)` group: Hyperscan has none of them.
  case verb
  /// Caseless with characters beyond ASCII: PCRE2's Unicode case folding decides.
  case caselessBeyondASCII
  /// A repeated group holding a quantifier or an alternation: PCRE2's backtracking limit is
  /// counted per rule, which only PCRE2 evaluating it alone gives.
  case repeatedGroupBacktracks
}

/// What a pattern's text says about how far Hyperscan's answer for it can stand for PCRE2's.
/// Every judgement errs one way: when in doubt, PCRE2 decides.
struct PatternSyntax: Equatable {
  /// Written only in the subset both engines read the same way (ASCII literals and escaped
  /// punctuation, `.`, `^`, `\d \D \w \W`, classes without POSIX names, groups `( )` and `(?: )`,
  /// `|`, greedy and lazy quantifiers with well-formed bounds): an exact Hyperscan match needs no
  /// confirmation. `$` is outside it (both engines match before a final newline, but PCRE2 alone
  /// says so in its documentation), as are all other escapes and group kinds.
  var sharedSemantics = true
  /// The answer on a subject beyond ASCII may depend on Unicode: caseless (PCRE2 folds `k` with
  /// U+212A KELVIN SIGN), `\s \b \h \v`, properties, POSIX classes, or non-ASCII text. On such
  /// subjects PCRE2 evaluates these patterns itself; Hyperscan could miss a match, which no
  /// confirmation can restore.
  var unicodeSensitive = false
  /// Caseless with characters beyond ASCII in the pattern (literally or by escape), or with
  /// PCRE2-only start verbs `(*...)`: PCRE2 always evaluates it, whatever the subject.
  var pcre2Only = false
  /// Why the text alone makes the pattern PCRE2's (`rules check` lists it), when it does.
  var pcre2OnlyBecause: PCRE2OnlyCause?
  /// Every construct matches ASCII characters only (no `.`, no negated class or escape, nothing
  /// beyond ASCII): on valid UTF-8 such a pattern matches the same bytes whether read as UTF-8 or
  /// as bytes, since an ASCII byte never occurs inside a multi-byte character. Hyperscan compiles
  /// these without `HS_FLAG_UTF8` (smaller, faster to build: a caseless `k` need not also be U+212A,
  /// which only matters on non-ASCII subjects, where PCRE2 evaluates caseless patterns anyway).
  var asciiOnly = true
  /// A group that repeats (`*`, `+`, or a bound above 1) holds a quantifier or an alternation, as in
  /// `(a+)+` or `(a|aa)*`: PCRE2 may backtrack until its limit stops it, and counts that (per rule).
  /// So that the count is the same as PCRE2 evaluating the pattern alone, PCRE2 evaluates such a
  /// pattern on every subject (Hyperscan, never backtracking, would answer where PCRE2 gave up).
  var backtracksWithoutBound = false
  /// The pattern starts with `^` (not quantified). Hyperscan is given the pattern without it, a
  /// superset of its matches, and PCRE2 confirms each: anchored patterns of different shapes make
  /// Hyperscan build them together into an anchored automaton whose size, build time and scan time
  /// grow far faster than the patterns' (see docs/PATTERNS.md), while the unanchored forms are
  /// matched by their literals like the rest. The price is a confirmation where the pattern occurs
  /// past the start of a subject.
  var relaxedAnchor = false

  init(_ pattern: String, caseInsensitive: Bool) {
    let bytes = Array(pattern.utf8)
    relaxedAnchor =
      bytes.first == UInt8(ascii: "^") && (bytes.count == 1 || !Self.quantifierStarts.contains(bytes[1]))
    var caseless = caseInsensitive
    var beyondASCII = false
    var index = 0
    var inClass = false
    var classStart = 0
    var afterQuantifier = false
    // Open groups (the pattern itself first): whether each holds a quantifier or an alternation.
    var groups: [(quantified: Bool, alternation: Bool)] = [(false, false)]
    while index < bytes.count {
      let byte = bytes[index]
      var quantifier = false
      defer {
        afterQuantifier = quantifier
      }
      if byte >= 0x80 {
        beyondASCII = true
        asciiOnly = false
        sharedSemantics = false
        index += 1
        continue
      }
      if byte == UInt8(ascii: "\\") {
        guard index + 1 < bytes.count else {
          sharedSemantics = false
          break
        }
        let escaped = bytes[index + 1]
        index += 2
        let backReference =
          Self.isDigit(escaped) && escaped != UInt8(ascii: "0")
          && !(index < bytes.count && Self.isDigit(bytes[index]))
        if !(Self.isPunctuation(escaped) || Self.plainEscapes.contains(escaped)
          || Self.asciiOnlyEscapes.contains(escaped) || backReference)
        {
          asciiOnly = false
        }
        if Self.isPunctuation(escaped) || Self.plainEscapes.contains(escaped) { continue }
        if Self.asciiClassEscapes.contains(escaped) { continue }
        sharedSemantics = false
        unicodeSensitive = true
        // `\1`-`\9` alone are back references; `\0` and longer numbers can be octal characters.
        let octal =
          escaped == UInt8(ascii: "0") || (Self.isDigit(escaped) && index < bytes.count && Self.isDigit(bytes[index]))
        if Self.codePointEscapes.contains(escaped) || octal { beyondASCII = true }
        continue
      }
      if inClass {
        if byte == UInt8(ascii: "]"), index > classStart {
          inClass = false
        } else if byte == UInt8(ascii: "["), index + 1 < bytes.count,
          [UInt8(ascii: ":"), UInt8(ascii: "="), UInt8(ascii: ".")].contains(bytes[index + 1])
        {
          sharedSemantics = false
          unicodeSensitive = true
          asciiOnly = false
        }
        index += 1
        continue
      }
      switch byte {
      case UInt8(ascii: "["):
        inClass = true
        index += 1
        if index < bytes.count, bytes[index] == UInt8(ascii: "^") {
          index += 1
          asciiOnly = false
        }
        // A `]` first in a class is a member, not its end.
        classStart = index
        continue
      case UInt8(ascii: "|"):
        groups[groups.count - 1].alternation = true
      case UInt8(ascii: ")"):
        if groups.count > 1 {
          let closed = groups.removeLast()
          if (closed.quantified || closed.alternation) && Self.repeatsMoreThanOnce(bytes, after: index) {
            backtracksWithoutBound = true
          }
          groups[groups.count - 1].quantified = groups[groups.count - 1].quantified || closed.quantified
          groups[groups.count - 1].alternation = groups[groups.count - 1].alternation || closed.alternation
        }
      case UInt8(ascii: "("):
        groups.append((false, false))
        if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*") {
          pcre2Only = true
          pcre2OnlyBecause = pcre2OnlyBecause ?? .verb
          sharedSemantics = false
        } else if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "?") {
          if index + 2 >= bytes.count || bytes[index + 2] != UInt8(ascii: ":") { sharedSemantics = false }
          var option = index + 2
          while option < bytes.count, Self.isLetter(bytes[option]) || bytes[option] == UInt8(ascii: "-") {
            if bytes[option] == UInt8(ascii: "i") { caseless = true }
            option += 1
          }
          // The `?` opens a group kind; it repeats nothing.
          index += 2
          continue
        }
      case UInt8(ascii: "."):
        asciiOnly = false
      case UInt8(ascii: "$"):
        sharedSemantics = false
      case UInt8(ascii: "*"), UInt8(ascii: "?"):
        quantifier = true
        groups[groups.count - 1].quantified = true
      case UInt8(ascii: "+"):
        // A `+` after a quantifier makes it possessive (which can turn a match into none).
        if afterQuantifier { sharedSemantics = false }
        quantifier = true
        groups[groups.count - 1].quantified = true
      case UInt8(ascii: "{"):
        if let end = Self.boundedRepeatEnd(bytes, from: index) {
          index = end
          quantifier = true
          groups[groups.count - 1].quantified = true
          continue
        }
        sharedSemantics = false
      default: break
      }
      index += 1
    }
    if inClass { sharedSemantics = false }
    if caseless {
      unicodeSensitive = true
      if beyondASCII {
        pcre2Only = true
        pcre2OnlyBecause = pcre2OnlyBecause ?? .caselessBeyondASCII
      }
    }
    if beyondASCII { unicodeSensitive = true }
    if backtracksWithoutBound {
      pcre2Only = true
      pcre2OnlyBecause = pcre2OnlyBecause ?? .repeatedGroupBacktracks
    }
    if pcre2Only || relaxedAnchor { sharedSemantics = false }
  }

  /// What Hyperscan is given for `pattern`: without its leading `^` when ``relaxedAnchor``.
  func hyperscanExpression(_ pattern: String) -> [UInt8] {
    relaxedAnchor ? Array(pattern.utf8.dropFirst()) : Array(pattern.utf8)
  }

  /// Whether a quantifier that allows more than one repetition follows `index` (`*`, `+`, `{n,}`,
  /// `{n,m}` with m > 1, `{n}` with n > 1).
  private static func repeatsMoreThanOnce(_ bytes: [UInt8], after index: Int) -> Bool {
    let next = index + 1
    guard next < bytes.count else { return false }
    if bytes[next] == UInt8(ascii: "*") || bytes[next] == UInt8(ascii: "+") { return true }
    guard bytes[next] == UInt8(ascii: "{"), let end = boundedRepeatEnd(bytes, from: next) else { return false }
    let bounds = bytes[(next + 1)..<(end - 1)].split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
    guard let last = bounds.last else { return false }
    if bounds.count == 2 && last.isEmpty { return true }
    // More than 9 digits is past any useful bound: treat as more than once.
    guard last.count <= 9 else { return true }
    return last.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) } > 1
  }

  /// The index after `{n}`, `{n,}` or `{n,m}` starting at `start`, or nil when the brace is not a
  /// well-formed repeat (PCRE2 then reads it as literal text; Hyperscan may not).
  private static func boundedRepeatEnd(_ bytes: [UInt8], from start: Int) -> Int? {
    var index = start + 1
    var digits = 0
    while index < bytes.count, isDigit(bytes[index]) {
      index += 1
      digits += 1
    }
    guard digits > 0, index < bytes.count else { return nil }
    if bytes[index] == UInt8(ascii: ",") {
      index += 1
      while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }
    guard index < bytes.count, bytes[index] == UInt8(ascii: "}") else { return nil }
    return index + 1
  }

  private static let quantifierStarts: Set<UInt8> = Set("*+?{".utf8)
  private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
  private static func isLetter(_ byte: UInt8) -> Bool {
    (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z")
  }
  private static func isPunctuation(_ byte: UInt8) -> Bool {
    byte > 0x20 && byte < 0x7f && !isLetter(byte) && !isDigit(byte)
  }
  /// `\t \n \r \f`: one ASCII control character each.
  private static let plainEscapes: Set<UInt8> = Set("tnrf".utf8)
  /// ASCII-only in both engines (PCRE2 without PCRE2_UCP, Hyperscan without HS_FLAG_UCP).
  private static let asciiClassEscapes: Set<UInt8> = Set("dDwW".utf8)
  /// Escapes that match only ASCII characters, or no character (assertions).
  private static let asciiOnlyEscapes: Set<UInt8> = Set("dwsbBAzZ".utf8)
  /// Escapes that can name a character beyond ASCII (a caseless pattern with one is PCRE2's alone).
  private static let codePointEscapes: Set<UInt8> = Set("xoNpPXuUC".utf8)
}

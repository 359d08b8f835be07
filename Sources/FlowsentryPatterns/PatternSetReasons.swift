/// Why a pattern of a set is evaluated by PCRE2 alone, for people: such a pattern costs a PCRE2
/// match on every subject (tens of times a Hyperscan-scanned one), and an author can often rewrite
/// it once told why. Worked out again on request (the cache keeps evaluations, not reasons): the
/// text first, then Hyperscan's parser, which is what decided at build time.
extension PatternSet {
  /// The reason pattern `id` is `pcre2Only`; nil for a pattern Hyperscan evaluates.
  public func pcre2OnlyReason(_ id: Int) -> String? {
    guard evaluation.indices.contains(id), evaluation[id] == .pcre2Only else { return nil }
    let spec = patterns[id]
    let syntax = PatternSyntax(spec.pattern, caseInsensitive: spec.caseInsensitive)
    switch syntax.pcre2OnlyBecause {
    case .verb:
      return "a (*…) verb or option, which Hyperscan does not support"
    case .caselessBeyondASCII:
      return "caseless with characters beyond ASCII, which PCRE2 folds by Unicode rules"
    case .repeatedGroupBacktracks:
      return "a repeated group holds a quantifier or an alternation: PCRE2 may backtrack to its limit, "
        + "whose hits are counted per rule, so PCRE2 evaluates it alone"
    case nil: break
    }
    let expression = syntax.hyperscanExpression(spec.pattern)
    var refusal: String?
    for prefilter in [false, true] {
      switch HyperscanDatabase.analyze(expression, flags: PatternSet.flags(spec, syntax, prefilter: prefilter)) {
      case .success(0):
        return "can match the empty string (it matches nearly every value; PCRE2 decides)"
      case .success:
        // The parser took it: the database build refused it, or its whole database failed.
        if let failure = statistics.hyperscanFailure {
          return "its Hyperscan database could not be built (\(failure))"
        }
        return "Hyperscan's database build refused it"
      case .failure(let failure):
        refusal = refusal ?? failure.message
      }
    }
    return "Hyperscan refused it: \(refusal ?? "no reason given")"
  }
}

import Testing

@testable import FlowsentryPatterns

/// A pattern that starts with `^` reaches Hyperscan without it (a superset of its matches) and PCRE2
/// confirms each candidate, so that an occurrence past the start is turned down.
@Suite struct PatternSetAnchorTests {
  @Test func aLeadingCaretIsLeftToPCRE2ToConfirm() throws {
    #expect(PatternSyntax("^evil\\.", caseInsensitive: false).hyperscanExpression("^evil\\.") == Array("evil\\.".utf8))
    // Only a leading, unquantified `^` at the top level: anything else reaches Hyperscan as written.
    for kept in ["a^b", "(^a)", "\\^a", "[^a]b", "^*a", "^{2}a"] {
      #expect(!PatternSyntax(kept, caseInsensitive: false).relaxedAnchor, "\(kept)")
    }
    let set = try PatternSet([
      PatternSpec("^evil\\.(?:com|net)"),
      PatternSpec("^[a-z0-9]{1,40}\\.c2\\.[a-z]{2,6}", caseInsensitive: true),
      PatternSpec("^(?<!www\\.)bad\\."),
      PatternSpec("^x|y"),
    ])
    #expect(set.evaluation == [.confirmed, .confirmed, .prefilter, .confirmed])
    let scanner = set.makeScanner()
    #expect(scanner.matches("evil.com") == [0])
    #expect(scanner.matches("mail.evil.com") == [])
    #expect(scanner.matches("EDGE7.C2.io") == [1])
    #expect(scanner.matches("a.EDGE7.C2.io") == [])  // the class stops at the first dot
    #expect(scanner.matches("bad.example") == [2])
    #expect(scanner.matches("www.bad.example") == [])
    #expect(scanner.matches("zy") == [3])
    #expect(scanner.matches("zx") == [])
    // The candidates past the start were confirmed by PCRE2 and turned down.
    #expect(scanner.rejectedCandidates >= 3)
  }
}

import Testing

@testable import FlowsentryPatterns

/// The anchored operations walk a trie: needles nested in one another, repeated, or longer than
/// the subject must answer as the one-by-one definition does.
@Suite struct AnchoredLiteralTrieTests {
  @Test func nestedAndRepeatedNeedlesAllMatch() throws {
    let needles = [".com", "example.com", ".example.com", "EXAMPLE.COM", ".com", "a.very.long.example.com"]
    let ends = try LiteralSet(needles, operation: .endsWith, caseFolding: .ascii).makeScanner()
    #expect(ends.matches("www.Example.com") == [0, 1, 2, 3, 4])
    #expect(ends.matches("example.com") == [0, 1, 3, 4])
    #expect(ends.matches("com") == [])
    let exactCase = try LiteralSet(needles, operation: .endsWith).makeScanner()
    #expect(exactCase.matches("www.EXAMPLE.COM") == [3])
    let starts = try LiteralSet(["ab", "a", "abc", "b"], operation: .startsWith).makeScanner()
    #expect(starts.matches("abcd") == [0, 1, 2])
    #expect(starts.matches("ab") == [0, 1])
    let equals = try LiteralSet(["ab", "a", "AB"], operation: .equals, caseFolding: .ascii).makeScanner()
    #expect(equals.matches("Ab") == [0, 2])
    #expect(equals.matches("abc") == [])
  }

  @Test func eachMatchIsReportedOnceWithoutTheArray() throws {
    let set = try LiteralSet(["x", ".x", "", "y.x"], operation: .endsWith)
    let scanner = set.makeScanner()
    var seen: [Int] = []
    Array("y.x".utf8).withUnsafeBytes { bytes in scanner.forEachMatch(bytes) { seen.append($0) } }
    #expect(seen.sorted() == [0, 1, 2, 3])
  }
}

import Testing

@testable import FlowsentryPatterns

@Suite struct LiteralSetTests {
  @Test func operationsCompareBytesWithASCIIFoldingOnly() throws {
    let needles = ["evil.com", "MAIL", "\u{e9}t\u{e9}", "a+b(", ""]
    let contains = try LiteralSet(needles, operation: .contains, caseFolding: .ascii).makeScanner()
    #expect(contains.matches("x.EVIL.COM.y") == [0, 4])
    #expect(contains.matches("gmail.org") == [1, 4])
    #expect(contains.matches("\u{c9}T\u{c9}") == [4])  // no folding beyond ASCII
    #expect(contains.matches("1a+b(2") == [3, 4])  // needles are text, not syntax
    let starts = try LiteralSet(needles, operation: .startsWith).makeScanner()
    #expect(starts.matches("evil.com.x") == [0, 4])
    #expect(starts.matches("x.evil.com") == [4])
    let ends = try LiteralSet(needles, operation: .endsWith).makeScanner()
    #expect(ends.matches("x.evil.com") == [0, 4])
    #expect(ends.matches("x.evil.com\n") == [4])  // the end is the end, not before a newline
    let equals = try LiteralSet(needles, operation: .equals, caseFolding: .ascii).makeScanner()
    #expect(equals.matches("Evil.Com") == [0])
    #expect(equals.matches("") == [4])
  }

  @Test(arguments: [LiteralSet.Operation.contains, .startsWith, .endsWith, .equals])
  func generatedNeedlesAgreeWithTheOneByOneDefinition(operation: LiteralSet.Operation) throws {
    var generator = CorpusGenerator(seed: 7)
    let needles = (0..<120).map { _ in
      let text = generator.chance(50) ? generator.label() : generator.domain()
      return Array(text.utf8) + (generator.chance(10) ? [0xC3, 0xA9] : [])
    }
    let subjects = (0..<300).map { _ in generator.subject() } + needles.prefix(40).map { $0.map { $0 ^ 0x20 } }
    for folding in [LiteralSet.CaseFolding.none, .ascii] {
      let set = try LiteralSet(bytes: needles, operation: operation, caseFolding: folding)
      let scanner = set.makeScanner()
      var hits = 0
      for subject in subjects {
        let expected = subject.withUnsafeBytes { bytes in
          needles.indices.filter { LiteralScanner.test(set, needles[$0], bytes) }
        }
        #expect(scanner.matches(subject) == expected, "\(subject)")
        hits += expected.count
      }
      #expect(hits > 0)
    }
  }
}

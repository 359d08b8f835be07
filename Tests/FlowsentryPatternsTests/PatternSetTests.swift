import Foundation
import Testing

@testable import FlowsentryPatterns

@Suite struct PatternSetTests {
  @Test func eachPatternIsEvaluatedTheWayItsSyntaxAllows() throws {
    let set = try PatternSet([
      PatternSpec("evil\\.(?:com|net)"),  // shared subset: Hyperscan's answer stands
      PatternSpec("evil\\.com$"),  // `$`: confirmed
      PatternSpec("(ab)\\.\\1"),  // backreference: prefilter
      PatternSpec("(?<=\\.)evil"),  // lookbehind: prefilter
      PatternSpec("evil\\Kcom"),  // \K: PCRE2 only
      PatternSpec("a\\Rb"),  // \R: PCRE2 only
      PatternSpec("a(?R)?b"),  // recursion: PCRE2 only
      PatternSpec("\\x{212A}", caseInsensitive: true),  // caseless beyond ASCII: PCRE2 only
      PatternSpec("x*"),  // matches the empty string: PCRE2 only
    ])
    #expect(
      set.evaluation == [
        .exact, .confirmed, .prefilter, .prefilter, .pcre2Only, .pcre2Only, .pcre2Only, .pcre2Only, .pcre2Only,
      ])
    let scanner = set.makeScanner()
    #expect(scanner.matches("mail.evil.com") == [0, 1, 3, 8])
    #expect(scanner.matches("ab.ab") == [2, 6, 8])  // the recursion matches its innermost "ab"
    #expect(scanner.matches("ab.ba") == [6, 8])
    #expect(scanner.matches("evilcom") == [4, 8])
    #expect(scanner.matches("a\r\nb") == [5, 8])
    #expect(scanner.matches("aabb") == [6, 8])
    #expect(scanner.matches("k") == [7, 8])  // PCRE2 folds U+212A KELVIN SIGN with k
  }

  @Test func dollarMatchesBeforeAFinalNewlineAsInPCRE2() throws {
    let scanner = try PatternSet([PatternSpec("com$"), PatternSpec("com\\z")]).makeScanner()
    #expect(scanner.matches("evil.com") == [0, 1])
    #expect(scanner.matches("evil.com\n") == [0])
    #expect(scanner.matches("evil.com\n\n") == [])
  }

  @Test func caselessMatchingFoldsBeyondASCIIAsPCRE2Does() throws {
    let scanner = try PatternSet([
      PatternSpec("kelvin", caseInsensitive: true), PatternSpec("\u{e9}t\u{e9}", caseInsensitive: true),
    ])
    .makeScanner()
    #expect(scanner.matches("\u{212A}ELVIN") == [0])
    #expect(scanner.matches("\u{c9}T\u{c9}") == [1])
    #expect(scanner.matches("KELVIN") == [0])
  }

  @Test func aSubjectThatIsNotUTF8MatchesNothing() throws {
    let scanner = try PatternSet([PatternSpec("a"), PatternSpec("x*")]).makeScanner()
    #expect(scanner.matches([0x61, 0xff]) == [])
    #expect(scanner.matches([0x61]) == [0, 1])
  }

  @Test func aPatternPCRE2RefusesIsAnErrorNamingItsIndexAndOffset() {
    #expect {
      try PatternSet([PatternSpec("fine"), PatternSpec("also fine"), PatternSpec("bad(group")])
    } throws: { error in
      guard let error = error as? PatternSet.CompileError else { return false }
      return error.index == 2 && error.offset == 9 && error.pattern == "bad(group"
        && error.description.contains("pattern 2")
    }
  }

  @Test func scannersOnSeveralThreadsAgree() async throws {
    var generator = CorpusGenerator(seed: 42)
    let set = try PatternSet(
      (0..<100).map { _ in PatternSpec(generator.pattern(), caseInsensitive: generator.chance(50)) })
    let subjects = (0..<400).map { _ in generator.subject() }
    let single = set.makeScanner()
    let expected = subjects.map { single.matches($0) }
    let results = await withTaskGroup(of: [[Int]].self) { group in
      for _ in 0..<4 {
        group.addTask { [set] in
          let scanner = set.makeScanner()
          return subjects.map { scanner.matches($0) }
        }
      }
      return await group.reduce(into: []) { $0.append($1) }
    }
    #expect(results.count == 4)
    for result in results { #expect(result == expected) }
  }
}

@Suite struct PatternDatabaseCacheTests {
  func temporaryDirectory() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("patterns-cache-\(UUID().uuidString)")
  }

  let specs = [PatternSpec("evil\\.(?:com|net)"), PatternSpec("(ab)\\1", caseInsensitive: true), PatternSpec("a\\Rb")]

  @Test func aRestartLoadsTheDatabaseInsteadOfCompiling() throws {
    let directory = temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = PatternDatabaseCache(directory: directory)
    let first = try PatternSet(specs, cache: cache)
    #expect(first.statistics.source == .compiled)
    let second = try PatternSet(specs, cache: PatternDatabaseCache(directory: directory))
    #expect(second.statistics.source == .cache)
    #expect(second.evaluation == first.evaluation)
    #expect(second.makeScanner().matches("evil.com ABab a\nb") == [0, 1, 2])
    #expect(cache.currentCounters == .init(hits: 0, misses: 1, damaged: 0, writeFailures: 0))
    // Another flag is another database.
    var changed = specs
    changed[0].caseInsensitive = true
    #expect(try PatternSet(changed, cache: cache).statistics.source == .compiled)
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".hsdb") }.count == 2)
  }

  @Test(arguments: ["flip", "truncate", "empty"])
  func aDamagedCacheFileIsCountedAndRebuilt(damage: String) throws {
    let directory = temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = PatternDatabaseCache(directory: directory)
    _ = try PatternSet(specs, cache: cache)
    let file = cache.fileURL(
      key: PatternDatabaseCache.key(for: specs, patternsPerDatabase: PatternSet.BuildOptions().patternsPerDatabase))
    var bytes = [UInt8](try Data(contentsOf: file))
    switch damage {
    case "flip": bytes[bytes.count / 2] ^= 0x40
    case "truncate": bytes.removeLast(bytes.count / 3)
    default: bytes = []
    }
    try Data(bytes).write(to: file)
    let rebuilt = try PatternSet(specs, cache: cache)
    #expect(rebuilt.statistics.source == .rebuiltDamagedCache)
    #expect(cache.currentCounters.damaged == 1)
    #expect(rebuilt.makeScanner().matches("evil.net") == [0])
    // The rebuilt file replaced the damaged one.
    #expect(try PatternSet(specs, cache: cache).statistics.source == .cache)
  }
}

@Suite struct PatternSyntaxTests {
  @Test func aCaselessBackReferenceStaysInHyperscanButAnOctalEscapeBeyondASCIIDoesNot() {
    #expect(!PatternSyntax("(ab)\\.\\1", caseInsensitive: true).pcre2Only)
    #expect(PatternSyntax("a\\377", caseInsensitive: true).pcre2Only)
    #expect(PatternSyntax("a\\0", caseInsensitive: true).pcre2Only)
    #expect(!PatternSyntax("a\\377", caseInsensitive: false).pcre2Only)
  }

  @Test func onlyTheSharedSubsetSkipsConfirmation() {
    for shared in ["evil\\.com", "[a-z0-9-]{0,40}\\.(?:ru|su)", "a^b", "\\d+x*?y{2,}", "[]a]b", "a|b|(c)"] {
      #expect(PatternSyntax(shared, caseInsensitive: false).sharedSemantics, "\(shared)")
    }
    // A leading `^` is relaxed for Hyperscan (PatternSetAnchorTests): confirmed, never exact.
    for other in ["^evil", "com$", "a\\sb", "\\bx", "[[:alpha:]]", "(?i)a", "a{,3}", "a++", "a{2}+", "x\\Qa\\E", "[ab"]
    {
      #expect(!PatternSyntax(other, caseInsensitive: false).sharedSemantics, "\(other)")
    }
  }
}

@Suite struct ByteModeTests {
  @Test func patternsOfASCIIOnlyConstructsCompileAsBytesAndStillMatchUTF8AsPCRE2() throws {
    #expect(PatternSyntax("^[a-z0-9]{0,40}\\.(ru|su)\\d*$", caseInsensitive: true).asciiOnly)
    for unicode in [".", "[^a]", "\\W", "\\D", "\u{e9}", "\\x{e9}", "[[:alpha:]]"] {
      #expect(!PatternSyntax(unicode, caseInsensitive: false).asciiOnly, "\(unicode)")
    }
    let scanner = try PatternSet([PatternSpec("a[a-z]{2}b"), PatternSpec("a.b"), PatternSpec("a[^x]b")]).makeScanner()
    // One code point between a and b: the UTF-8 reading matches `.` and `[^x]`, the byte class never.
    #expect(scanner.matches("a\u{e9}b") == [1, 2])
    #expect(scanner.matches("a\u{e9}\u{e9}b") == [])
    #expect(scanner.matches("axyb") == [0])
  }
}

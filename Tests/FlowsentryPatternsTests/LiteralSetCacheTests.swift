import Foundation
import Testing

@testable import FlowsentryPatterns

/// A `contains` list's database is compiled once and then loaded: 200,000 needles took over ten
/// seconds to compile at every start, reload, `replay` and `rules test`.
@Suite struct LiteralSetCacheTests {
  let needles = ["evil.com", "MAIL", "a+b(", "\u{e9}t\u{e9}", ""]

  func temporaryDirectory() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("literal-cache-\(UUID().uuidString)")
  }

  func cacheFiles(_ directory: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".hsdb") }.sorted()
  }

  @Test func aContainsDatabaseIsStoredThenLoadedAndMatchesTheSame() throws {
    let directory = temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = PatternDatabaseCache(directory: directory)
    let built = try LiteralSet(needles, operation: .contains, caseFolding: .ascii, cache: cache)
    #expect(!built.loadedFromCache && built.hasDatabase)
    let key = try #require(built.cacheKey)
    #expect(try cacheFiles(directory) == ["\(key).hsdb"])

    let loaded = try LiteralSet(needles, operation: .contains, caseFolding: .ascii, cache: cache)
    #expect(loaded.loadedFromCache && loaded.cacheKey == key)
    #expect(cache.currentCounters == .init(hits: 1, misses: 1, damaged: 0, writeFailures: 0))
    for subject in ["x.EVIL.COM.y", "gmail.org", "\u{c9}T\u{c9}", "1a+b(2", "nothing"] {
      #expect(loaded.makeScanner().matches(subject) == built.makeScanner().matches(subject), "\(subject)")
    }
    #expect(loaded.makeScanner().matches("x.EVIL.COM.y") == [0, 4])
  }

  @Test func anotherFoldingOrNeedleIsAnotherFile() throws {
    let directory = temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = PatternDatabaseCache(directory: directory)
    let folded = try LiteralSet(needles, operation: .contains, caseFolding: .ascii, cache: cache)
    let exact = try LiteralSet(needles, operation: .contains, caseFolding: .none, cache: cache)
    let other = try LiteralSet(needles + ["x"], operation: .contains, caseFolding: .ascii, cache: cache)
    #expect(!exact.loadedFromCache && !other.loadedFromCache)
    #expect(Set([folded.cacheKey, exact.cacheKey, other.cacheKey]).count == 3)
    #expect(try cacheFiles(directory).count == 3)
    // The folding is the database's: a case-sensitive set loaded from the cache stays case-sensitive.
    let exactAgain = try LiteralSet(needles, operation: .contains, caseFolding: .none, cache: cache)
    #expect(exactAgain.loadedFromCache)
    #expect(exactAgain.makeScanner().matches("EVIL.COM") == [4])
  }

  @Test func anchoredOperationsAndEmptySetsHaveNoFile() throws {
    let directory = temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = PatternDatabaseCache(directory: directory)
    for operation in [LiteralSet.Operation.startsWith, .endsWith, .equals] {
      let set = try LiteralSet(needles, operation: operation, cache: cache)
      #expect(!set.hasDatabase && set.cacheKey == nil)
    }
    #expect(try LiteralSet([""], operation: .contains, cache: cache).cacheKey == nil)
    #expect(!FileManager.default.fileExists(atPath: directory.path))
  }

  @Test func aDamagedFileIsCountedAndRebuilt() throws {
    let directory = temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = PatternDatabaseCache(directory: directory)
    let key = try #require(try LiteralSet(needles, operation: .contains, cache: cache).cacheKey)
    let file = cache.fileURL(key: key)
    var bytes = [UInt8](try Data(contentsOf: file))
    bytes[bytes.count / 2] ^= 0x40
    try Data(bytes).write(to: file)
    let rebuilt = try LiteralSet(needles, operation: .contains, cache: cache)
    #expect(!rebuilt.loadedFromCache)
    #expect(cache.currentCounters.damaged == 1)
    #expect(rebuilt.makeScanner().matches("a.evil.com") == [0, 4])
    #expect(try LiteralSet(needles, operation: .contains, cache: cache).loadedFromCache)
  }

  @Test func severalSetsBuildAtOnceInOrder() throws {
    let requests: [(needles: [[UInt8]], operation: LiteralSet.Operation, caseFolding: LiteralSet.CaseFolding)] =
      (0..<6).map { index in
        ((0..<50).map { Array("needle-\(index)-\($0)".utf8) }, index % 2 == 0 ? .contains : .endsWith, .ascii)
      }
    let sets = LiteralSet.build(requests, cache: nil, threads: 3)
    #expect(sets.count == 6)
    for (index, result) in sets.enumerated() {
      let set = try result.get()
      #expect(set.makeScanner().matches("x-NEEDLE-\(index)-7") == [7], "\(index)")
    }
  }
}

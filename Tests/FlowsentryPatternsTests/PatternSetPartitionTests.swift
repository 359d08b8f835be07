import Foundation
import Testing

@testable import FlowsentryPatterns

/// A set cut into several databases, built on several threads, answers as one database does (and
/// as PCRE2 does); the partition is part of the cache key, the threads are not.
@Suite struct PatternSetPartitionTests {
  static func corpus(seed: UInt64) -> (specs: [PatternSpec], subjects: [[UInt8]]) {
    var generator = CorpusGenerator(seed: seed)
    let specs = (0..<120).map { _ in PatternSpec(generator.pattern(), caseInsensitive: generator.chance(50)) }
    return (specs, (0..<300).map { _ in generator.subject() })
  }

  @Test(arguments: [UInt64(4), 5])
  func severalDatabasesOnSeveralThreadsAnswerAsOneDatabase(seed: UInt64) throws {
    let (specs, subjects) = Self.corpus(seed: seed)
    let one = try PatternSet(specs, options: .init(patternsPerDatabase: specs.count, threads: 1))
    let parted = try PatternSet(specs, options: .init(patternsPerDatabase: 7, threads: 3))
    #expect(one.statistics.databases == 1)
    // 120 patterns in parts of 7 make 18 databases (a part of PCRE2-only patterns alone has none).
    #expect(parted.statistics.databases > 10)
    #expect(parted.statistics.buildThreads == 3)
    #expect(parted.evaluation == one.evaluation)
    let programs = try specs.map { try PCRE2Program($0.pattern, caseInsensitive: $0.caseInsensitive, jit: false) }
    let state = PCRE2MatchState()
    let (oneScanner, partedScanner) = (one.makeScanner(), parted.makeScanner())
    var matched = 0
    for subject in subjects {
      let expected = pcre2Answer(programs, subject, state).ids
      #expect(oneScanner.matches(subject) == expected)
      #expect(partedScanner.matches(subject) == expected, "\(String(decoding: subject, as: UTF8.self))")
      matched += expected.count
    }
    #expect(matched > 100)
    #expect(partedScanner.scanFailures == 0)
  }

  @Test func theCacheKeepsEachPartitionApartAndLoadsEveryDatabase() throws {
    let (specs, subjects) = Self.corpus(seed: 6)
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("partition-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = PatternDatabaseCache(directory: directory)
    let built = try PatternSet(specs, cache: cache, options: .init(patternsPerDatabase: 10, threads: 2))
    #expect(built.statistics.source == .compiled)
    // The same partition on other threads is the same file; another partition is another.
    let loaded = try PatternSet(specs, cache: cache, options: .init(patternsPerDatabase: 10, threads: 1))
    #expect(loaded.statistics.source == .cache)
    #expect(loaded.statistics.databases == built.statistics.databases)
    #expect(loaded.evaluation == built.evaluation)
    let other = try PatternSet(specs, cache: cache, options: .init(patternsPerDatabase: 40, threads: 2))
    #expect(other.statistics.source == .compiled)
    #expect(
      PatternDatabaseCache.key(for: specs, patternsPerDatabase: 10)
        != PatternDatabaseCache.key(for: specs, patternsPerDatabase: 40))
    let (builtScanner, loadedScanner) = (built.makeScanner(), loaded.makeScanner())
    for subject in subjects { #expect(loadedScanner.matches(subject) == builtScanner.matches(subject)) }
    #expect(cache.currentCounters == .init(hits: 1, misses: 2, damaged: 0, writeFailures: 0))
  }
}

import Foundation
import Testing

@testable import FlowsentryPatterns

/// A part whose Hyperscan compile grows faster than its patterns is cut into databases that each
/// compile in about a second, instead of one that takes minutes; a part that grows linearly stays
/// one database; the answers are the same either way.
@Suite struct DatabaseSizingTests {
  /// Probes of a part whose compile costs `cost(k)` seconds for its first `k` patterns, recorded.
  final class Probes {
    var asked: [Int] = []
    let cost: (Int) -> Double?
    init(_ cost: @escaping (Int) -> Double?) { self.cost = cost }
    func probe(_ count: Int) -> Double? {
      asked.append(count)
      return cost(count)
    }
  }

  @Test func aLinearPartStaysOneDatabase() {
    let probes = Probes { Double($0) * 0.001 }
    #expect(DatabaseSizing.patternsPerDatabase(members: 5_000, probe: probes.probe) == 5_000)
    // 128 patterns take 0.128 s: measurable at once, so the growth is read against 64.
    #expect(probes.asked == [128, 64])
  }

  /// The exponent read from two probes a doubling apart is noisy: a linear part whose smaller
  /// probe read 10% quick gives an exponent of about 1.15 and an estimate past `wholeSeconds`
  /// (0.18 s at 128 patterns: 13 s for 5,000), yet it stays one database; one that grows a little
  /// faster than linear stays whole too, until its estimate is past `hopelessSeconds`.
  @Test func aNearlyLinearPartStaysOneDatabaseUnlessHopeless() {
    let noisy = Probes { $0 == 64 ? 0.081 : Double($0) * 0.0014 }
    #expect(DatabaseSizing.patternsPerDatabase(members: 5_000, probe: noisy.probe) == 5_000)
    #expect(noisy.asked == [128, 64])
    // Exponent 1.3: 5,000 patterns in about 25 s stay whole; 50,000 (about 500 s) are cut.
    let steeper = Probes { pow(Double($0), 1.3) * 0.0003 }
    #expect(DatabaseSizing.patternsPerDatabase(members: 5_000, probe: steeper.probe) == 5_000)
    let hopeless = Probes { pow(Double($0), 1.3) * 0.0003 }
    let size = DatabaseSizing.patternsPerDatabase(members: 50_000, probe: hopeless.probe)
    #expect(size < 50_000, "\(size)")
  }

  @Test func aQuadraticPartIsCutIntoDatabasesOfAboutASecond() {
    let probes = Probes { pow(Double($0) / 100, 2) }
    let size = DatabaseSizing.patternsPerDatabase(members: 4_000, probe: probes.probe)
    #expect(size == 100, "\(size)")
    // Too quick to read at 128 and 256? No: 1.6 s at 128, then 64 for the growth.
    #expect(probes.asked == [128, 64])
  }

  @Test func quickCompilesAreDoubledUntilMeasurable() {
    // A millisecond per 128 patterns, growing as the square: read at 2,048 (0.256 s) against 1,024.
    let probes = Probes { pow(Double($0) / 128, 2) * 0.001 }
    let size = DatabaseSizing.patternsPerDatabase(members: 100_000, probe: probes.probe)
    #expect(probes.asked == [128, 256, 512, 1_024, 2_048])
    // 2,048 patterns take 0.256 s, 100,000 would take 610 s: databases of about 4,000 take a second each.
    #expect((3_900...4_100).contains(size), "\(size)")
  }

  @Test func smallOrQuickOrRefusedPartsAreNotCut() {
    let never = Probes { _ in 100 }
    #expect(DatabaseSizing.patternsPerDatabase(members: 512, probe: never.probe) == 512)
    #expect(never.asked.isEmpty)
    // Never measurable: the whole part takes a few times its last probe at most.
    let quick = Probes { _ in 0.01 }
    #expect(DatabaseSizing.patternsPerDatabase(members: 3_000, probe: quick.probe) == 3_000)
    #expect(quick.asked == [128, 256, 512, 1_024])
    let refused = Probes { _ in nil }
    #expect(DatabaseSizing.patternsPerDatabase(members: 3_000, probe: refused.probe) == 3_000)
  }

  /// The shape found by hand: unanchored bounded repeats after a literal that differs per pattern.
  /// With limits a hundred times smaller than the monitor's (so that a machine ten times faster
  /// still cuts it, and the test takes seconds), 300 of them go into several databases, and every
  /// subject gets PCRE2's answer.
  @Test func hyperscansSlowShapeIsBuiltInSeveralDatabasesWithTheSameAnswers() throws {
    let specs = (0..<300).map { PatternSpec("host\($0)[0-9]{1,3}\\.(?:example|test)\\.net") }
    var options = PatternSet.BuildOptions(patternsPerDatabase: 5_000, threads: 1)
    options.sizing = .init(smallestProbed: 200, measurableSeconds: 0.01, wholeSeconds: 0.1, targetSeconds: 0.05)
    let set = try PatternSet(specs, options: options)
    #expect(set.statistics.databases >= 3, "\(set.statistics)")
    #expect(set.evaluation.allSatisfy { $0 != .pcre2Only })
    let subjects = ["host1234.example.net", "xhost299.test.net", "host2991.test.net", "host77.example.org"]
      .map { Array($0.utf8) }
    let programs = try specs.map { try PCRE2Program($0.pattern, caseInsensitive: false, jit: false) }
    let state = PCRE2MatchState()
    let scanner = set.makeScanner()
    var matched = 0
    for subject in subjects {
      let expected = pcre2Answer(programs, subject, state).ids
      #expect(scanner.matches(subject) == expected, "\(String(decoding: subject, as: UTF8.self))")
      matched += expected.count
    }
    #expect(matched >= 4)
  }
}

import Testing

@testable import FlowsentryPatterns

/// PCRE2 alone, pattern by pattern: the answer a PatternSet must give. The programs are compiled
/// without the JIT, so PCRE2 itself checks each subject's UTF-8 (the JIT skips that check).
func pcre2Answer(_ programs: [PCRE2Program], _ subject: [UInt8], _ state: PCRE2MatchState) -> (
  ids: [Int], limitHits: Int
) {
  var ids: [Int] = []
  var limitHits = 0
  subject.withUnsafeBytes { bytes in
    for (id, program) in programs.enumerated() {
      switch state.match(program, bytes) {
      case .match: ids.append(id)
      case .noMatch: break
      case .limitHit: limitHits += 1
      }
    }
  }
  return (ids, limitHits)
}

@Suite struct PatternSetDifferentialTests {
  @Test(arguments: [UInt64(1), 2, 3])
  func generatedPatternsMatchExactlyWhatPCRE2Matches(seed: UInt64) throws {
    var generator = CorpusGenerator(seed: seed)
    let specs = (0..<250).map { _ in PatternSpec(generator.pattern(), caseInsensitive: generator.chance(50)) }
    let subjects = (0..<400).map { _ in generator.subject() }
    let set = try PatternSet(specs)
    let programs = try specs.map { try PCRE2Program($0.pattern, caseInsensitive: $0.caseInsensitive, jit: false) }
    let state = PCRE2MatchState()
    let scanner = set.makeScanner()
    var matchedPairs = 0
    for subject in subjects {
      let expected = pcre2Answer(programs, subject, state)
      // A limit hit would make the comparison weaker than it looks; this corpus has none.
      #expect(expected.limitHits == 0)
      let actual = scanner.matches(subject)
      #expect(actual == expected.ids, "subject \(subject) (\(String(decoding: subject, as: UTF8.self)))")
      if actual != expected.ids {
        for id in Set(actual).symmetricDifference(expected.ids) {
          Issue.record("pattern \(id) \(specs[id]) as \(set.evaluation[id]): PCRE2 says \(expected.ids.contains(id))")
        }
        return
      }
      matchedPairs += actual.count
    }
    // The corpus exercises every path, and matches often enough to mean something.
    for kind in PatternEvaluation.allCases {
      #expect(set.statistics.counts[kind, default: 0] > 0, "no \(kind) pattern")
    }
    #expect(matchedPairs > 500)
    #expect(scanner.rejectedCandidates > 0)
    #expect(scanner.scanFailures == 0)
  }
}

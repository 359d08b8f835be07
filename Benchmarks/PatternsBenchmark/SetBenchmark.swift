import FlowsentryPatterns
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

// `PatternsBenchmark sets`: the pattern sets alone (no rule engine) against PCRE2 pattern by
// pattern, on RuleCorpus's patterns (every other one caseless) and names (one in 100 built to match).

struct SetRun {
  var subjectsPerSecond: Double
  var subjectsPerCPUSecond: Double
  var p99Nanoseconds: Int64
  var matches: [[Int]]
}

/// Times `match` over every subject: the whole pass in wall and thread CPU time, each subject alone
/// for the percentile.
func measure(_ subjects: [String], _ match: (String) -> [Int]) -> SetRun {
  var matches: [[Int]] = []
  matches.reserveCapacity(subjects.count)
  let start = nanoseconds()
  let cpuStart = nanoseconds(CLOCK_THREAD_CPUTIME_ID)
  for subject in subjects { matches.append(match(subject)) }
  let cpu = Double(nanoseconds(CLOCK_THREAD_CPUTIME_ID) - cpuStart) / 1e9
  let wall = Double(nanoseconds() - start) / 1e9
  var latencies: [Int64] = []
  latencies.reserveCapacity(subjects.count)
  for subject in subjects {
    let before = nanoseconds()
    _ = match(subject)
    latencies.append(nanoseconds() - before)
  }
  latencies.sort()
  return SetRun(
    subjectsPerSecond: Double(subjects.count) / wall, subjectsPerCPUSecond: Double(subjects.count) / cpu,
    p99Nanoseconds: latencies.isEmpty ? 0 : latencies[latencies.count * 99 / 100], matches: matches)
}

func patternSetBenchmark(subjects subjectCount: Int, counts: [Int]) {
  let cacheDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("patterns-benchmark-\(getpid())")
  defer { try? FileManager.default.removeItem(at: cacheDirectory) }
  print(
    "| patterns | engine | build s (CPU s) | cache load s | databases, MiB | subjects/s (per CPU-s) | p99 ns | exact/confirmed/prefilter/pcre2-only |"
  )
  print("|---:|---|---:|---:|---:|---:|---:|---|")
  for count in counts {
    var corpus = RuleCorpus()
    var matching: [String] = []
    var specs: [PatternSpec] = []
    for index in 0..<count {
      let (pattern, subject) = corpus.pattern()
      specs.append(PatternSpec(pattern, caseInsensitive: index % 2 == 1))
      matching.append(subject)
    }
    let subjects = (0..<subjectCount).map { index in
      index % 100 == 0 ? matching[index / 100 % matching.count] : corpus.name()
    }
    let cache = PatternDatabaseCache(directory: cacheDirectory)
    var start = nanoseconds()
    let cpuStart = nanoseconds(CLOCK_PROCESS_CPUTIME_ID)
    guard let set = try? PatternSet(specs, cache: cache) else { fatalError("PCRE2 refused a corpus pattern") }
    let buildCPU = nanoseconds(CLOCK_PROCESS_CPUTIME_ID) - cpuStart
    let build = nanoseconds() - start
    start = nanoseconds()
    guard let loaded = try? PatternSet(specs, cache: cache), loaded.statistics.source == .cache else {
      fatalError("the second build did not come from the cache")
    }
    let load = nanoseconds() - start
    let scanner = set.makeScanner()
    _ = measure(Array(subjects.prefix(1_000)), scanner.matches)  // warm caches
    let fast = measure(subjects, scanner.matches)
    let programs = specs.map { try! PCRE2Program($0.pattern, caseInsensitive: $0.caseInsensitive) }
    let state = PCRE2MatchState()
    // PCRE2 one by one is slow: a prefix of the subjects is enough for its rate.
    let prefix = Array(subjects.prefix(count >= 10_000 ? 1_000 : 5_000))
    let reference = measure(prefix) { subject in
      var subject = subject
      return subject.withUTF8 { bytes in
        programs.indices.filter { state.match(programs[$0], UnsafeRawBufferPointer(bytes)) == .match }
      }
    }
    let disagreements = zip(reference.matches, fast.matches).filter { $0 != $1 }.count
    let kinds = PatternEvaluation.allCases.map { String(set.statistics.counts[$0, default: 0]) }.joined(separator: "/")
    let megabytes = String(format: "%.1f", Double(set.statistics.databaseBytes) / 1_048_576)
    print(
      "| \(count) | pattern set | \(seconds(build)) (\(seconds(buildCPU))) | \(seconds(load)) | "
        + "\(set.statistics.databases), \(megabytes) | \(Int(fast.subjectsPerSecond)) (\(Int(fast.subjectsPerCPUSecond))) "
        + "| \(fast.p99Nanoseconds) | \(kinds) |")
    print(
      "| \(count) | PCRE2 one by one | – | – | – | \(Int(reference.subjectsPerSecond)) "
        + "(\(Int(reference.subjectsPerCPUSecond))) | \(reference.p99Nanoseconds) | \(prefix.count) subjects |")
    print(
      "<!-- \(count): \(fast.matches.filter { !$0.isEmpty }.count) of \(subjects.count) subjects matched; "
        + "disagreements with PCRE2 on \(prefix.count): \(disagreements); confirmations \(scanner.confirmations), "
        + "rejected \(scanner.rejectedCandidates) -->")
    precondition(disagreements == 0, "the pattern set disagreed with PCRE2")
  }
}

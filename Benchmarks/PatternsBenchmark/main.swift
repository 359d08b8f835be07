// Regex signatures at scale: one Hyperscan database (PCRE2 confirming) against PCRE2 pattern by
// pattern, on the same generated subjects, for 1,000 and 10,000 patterns. Run the release build:
//   swift run -c release PatternsBenchmark [subjects [pattern counts...]]
import FlowsentryPatterns
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

func now(_ clock: clockid_t = CLOCK_MONOTONIC) -> UInt64 {
  var time = timespec()
  clock_gettime(clock, &time)
  return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

struct Run {
  var subjectsPerSecond: Double
  var p99Microseconds: Double
  var matches: [[Int]]
}

/// Times `match` over every subject (each timed alone, for the percentile).
func measure(_ subjects: [String], _ match: (String) -> [Int]) -> Run {
  var latencies: [UInt64] = []
  latencies.reserveCapacity(subjects.count)
  var matches: [[Int]] = []
  matches.reserveCapacity(subjects.count)
  let start = now()
  for subject in subjects {
    let before = now()
    matches.append(match(subject))
    latencies.append(now() - before)
  }
  let elapsed = Double(now() - start) / 1e9
  latencies.sort()
  let p99 = latencies.isEmpty ? 0 : Double(latencies[min(latencies.count - 1, latencies.count * 99 / 100)]) / 1e3
  return Run(subjectsPerSecond: Double(subjects.count) / elapsed, p99Microseconds: p99, matches: matches)
}

func format(_ value: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", value) }

let subjectCount = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 20_000
var corpus = Corpus(seed: 0x5EED)
let subjects = (0..<subjectCount).map { _ in corpus.subject() }
let cacheDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("patterns-benchmark-\(getpid())")
defer { try? FileManager.default.removeItem(at: cacheDirectory) }

print(
  "| patterns | engine | compile s | cache load s | database MiB | subjects/s | p99 µs/subject | exact/confirmed/prefilter/pcre2-only |"
)
print("|---:|---|---:|---:|---:|---:|---:|---|")
let patternCounts = CommandLine.arguments.dropFirst(2).compactMap { Int($0) }
for patternCount in patternCounts.isEmpty ? [1_000, 10_000] : patternCounts {
  let specs = (0..<patternCount).map { _ in
    let (pattern, caseless) = corpus.pattern()
    return PatternSpec(pattern, caseInsensitive: caseless)
  }
  let cache = PatternDatabaseCache(directory: cacheDirectory)
  var start = now()
  let cpuStart = now(CLOCK_PROCESS_CPUTIME_ID)
  let set = try PatternSet(specs, cache: cache)
  let compileSeconds = Double(now() - start) / 1e9
  // The machine may be shared: CPU time says what the compile itself cost.
  let compileCPUSeconds = Double(now(CLOCK_PROCESS_CPUTIME_ID) - cpuStart) / 1e9
  start = now()
  let loaded = try PatternSet(specs, cache: cache)
  let loadSeconds = Double(now() - start) / 1e9
  precondition(loaded.statistics.source == .cache, "the second build did not come from the cache")

  let scanner = set.makeScanner()
  _ = measure(Array(subjects.prefix(1_000)), scanner.matches)  // warm caches
  let hyperscan = measure(subjects, scanner.matches)

  start = now()
  let regexes = try specs.map { try PCRE2Regex($0.pattern, caseInsensitive: $0.caseInsensitive) }
  let pcre2Compile = Double(now() - start) / 1e9
  // PCRE2 one by one is slow enough at 10,000 patterns that it runs on a prefix of the subjects.
  let baselineSubjects = Array(subjects.prefix(patternCount >= 10_000 ? 1_000 : 5_000))
  let pcre2 = measure(baselineSubjects) { subject in regexes.indices.filter { regexes[$0].matches(subject) } }
  let disagreements = zip(pcre2.matches, hyperscan.matches).filter { $0 != $1 }.count
  let counts = PatternEvaluation.allCases.map { String(set.statistics.counts[$0, default: 0]) }.joined(separator: "/")
  let megabytes = Double(set.statistics.databaseBytes) / 1_048_576
  print(
    "| \(patternCount) | Hyperscan + PCRE2 confirm | \(format(compileSeconds, 2)) (CPU \(format(compileCPUSeconds, 2))) | \(format(loadSeconds, 2)) "
      + "| \(format(megabytes, 2)) | \(format(hyperscan.subjectsPerSecond, 0)) | \(format(hyperscan.p99Microseconds, 2)) | \(counts) |"
  )
  print(
    "| \(patternCount) | PCRE2 one by one | \(format(pcre2Compile, 2)) | – | – | \(format(pcre2.subjectsPerSecond, 0)) "
      + "| \(format(pcre2.p99Microseconds, 2)) | \(baselineSubjects.count) subjects |")
  let refused = set.statistics.refusedByBuild.prefix(5).map { specs[$0].pattern }
  print(
    "<!-- builds \(set.statistics.buildAttempts), refused by the build \(set.statistics.refusedByBuild.count) "
      + "(first: \(refused)); PCRE2-only: \(set.evaluation.indices.filter { set.evaluation[$0] == .pcre2Only }.prefix(5).map { specs[$0].pattern }) -->"
  )
  let matched = hyperscan.matches.filter { !$0.isEmpty }.count
  print(
    "<!-- \(patternCount) patterns: \(matched) of \(subjects.count) subjects matched; disagreements with PCRE2 on "
      + "\(baselineSubjects.count) subjects: \(disagreements); confirmations \(scanner.confirmations), rejected "
      + "\(scanner.rejectedCandidates); limit hits \(scanner.limitHits.reduce(0, +)) -->")
  precondition(disagreements == 0, "the pattern set disagreed with PCRE2")
}

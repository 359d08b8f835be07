import CFlowsentryHyperscan
import FlowsentryCore
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Building a ``PatternSet``'s databases: the patterns, in order, cut into parts of
/// `patternsPerDatabase`; each part classified (exact, prefilter or PCRE2-only, asking Hyperscan's
/// parser one pattern at a time) and compiled by the same thread, the parts shared by a few
/// threads. A part is one database unless its compile grows too fast (``DatabaseSizing``, which
/// times it: then the databases depend on the machine's timings, the answers never). The threads
/// change nothing, and a pattern the build refuses costs a rebuild of its database only.
enum PatternSetBuild {
  struct Outcome {
    var evaluation: [PatternEvaluation]
    var databases: [HyperscanDatabase]
    var failure: String?
    var attempts = 0
    var refused: [Int] = []
    var threads = 1
    /// CPU time, summed over the threads (wall time would count the waits of a shared machine).
    var classification: Duration = .zero
    var compile: Duration = .zero
  }

  /// What building one part gave: its patterns' evaluations (the part's range of ids), its
  /// databases (one, unless its compile grew too fast: ``DatabaseSizing``).
  struct Part: @unchecked Sendable {
    var evaluation: [PatternEvaluation]
    var databases: [HyperscanDatabase] = []
    var failure: String?
    var attempts = 0
    var refused: [Int] = []
    var classification: Duration = .zero
    var compile: Duration = .zero
  }

  static func build(_ patterns: [PatternSpec], _ syntax: [PatternSyntax], options: PatternSet.BuildOptions)
    -> Outcome
  {
    let size = options.patternsPerDatabase
    let parts = (patterns.count + size - 1) / size
    let threads = min(options.threads, parts)
    let built = ParallelWork.map(jobs: parts, threads: threads) { part in
      let range = (part * size)..<min(patterns.count, (part + 1) * size)
      return buildPart(Array(patterns[range]), Array(syntax[range]), firstID: range.lowerBound, limits: options.sizing)
    }
    var outcome = Outcome(evaluation: [], databases: [], threads: max(1, threads))
    outcome.evaluation.reserveCapacity(patterns.count)
    for part in built {
      outcome.evaluation += part.evaluation
      outcome.databases += part.databases
      outcome.failure = outcome.failure ?? part.failure
      outcome.attempts += part.attempts
      outcome.refused += part.refused
      outcome.classification += part.classification
      outcome.compile += part.compile
    }
    return outcome
  }

  /// Classifies and compiles the patterns of one part; their Hyperscan ids are `firstID` on.
  static func buildPart(
    _ patterns: [PatternSpec], _ syntax: [PatternSyntax], firstID: Int, limits: DatabaseSizing.Limits = .init()
  ) -> Part {
    let started = threadCPUTime()
    var part = Part(evaluation: [PatternEvaluation](repeating: .pcre2Only, count: patterns.count))
    for (index, spec) in patterns.enumerated() where !syntax[index].pcre2Only {
      let expression = syntax[index].hyperscanExpression(spec.pattern)
      for prefilter in [false, true] {
        // A pattern that can match the empty string matches nearly everything; PCRE2 decides those.
        if case .success(let width) = HyperscanDatabase.analyze(
          expression, flags: PatternSet.flags(spec, syntax[index], prefilter: prefilter))
        {
          if width > 0 {
            part.evaluation[index] = prefilter ? .prefilter : (syntax[index].sharedSemantics ? .exact : .confirmed)
          }
          break
        }
      }
    }
    let classified = threadCPUTime()
    part.classification = classified - started
    compile(&part, patterns, syntax, firstID: firstID, limits: limits)
    part.compile = threadCPUTime() - classified
    return part
  }

  /// The calling thread's CPU time.
  static func threadCPUTime() -> Duration {
    var time = timespec()
    guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time) == 0 else { return .zero }
    return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
  }

  /// Builds the part's databases (one, unless ``DatabaseSizing`` finds its compile growing too fast
  /// for one), moving each pattern a build refuses one step down and retrying that database.
  private static func compile(
    _ part: inout Part, _ patterns: [PatternSpec], _ syntax: [PatternSyntax], firstID: Int,
    limits: DatabaseSizing.Limits
  ) {
    let members = part.evaluation.indices.filter { part.evaluation[$0] != .pcre2Only }
    if members.isEmpty { return }
    func compiled(_ members: ArraySlice<Int>) throws(HyperscanDatabase.Failure) -> HyperscanDatabase {
      try HyperscanDatabase(
        expressions: members.map { syntax[$0].hyperscanExpression(patterns[$0].pattern) },
        flags: members.map { PatternSet.flags(patterns[$0], syntax[$0], prefilter: part.evaluation[$0] == .prefilter) },
        ids: members.map { UInt32(firstID + $0) })
    }
    let size = DatabaseSizing.patternsPerDatabase(members: members.count, limits: limits) { count in
      // A pattern the probe's build refuses moves down a step, as the database's build would move
      // it (so that one such pattern does not leave a slow part whole); the time is the last try's.
      while true {
        let probed = members[..<count].filter { part.evaluation[$0] != .pcre2Only }
        let started = threadCPUTime()
        do throws(HyperscanDatabase.Failure) {
          _ = try compiled(probed[...])
          return (threadCPUTime() - started).inSeconds
        } catch {
          guard let position = error.expression, position < probed.count else { return nil }
          part.attempts += 1
          part.refused.append(firstID + probed[position])
          part.evaluation[probed[position]] = part.evaluation[probed[position]] == .prefilter ? .pcre2Only : .prefilter
        }
      }
    }
    for start in stride(from: 0, to: members.count, by: size) {
      var chunk = Array(members[start..<min(members.count, start + size)])
      while true {
        chunk = chunk.filter { part.evaluation[$0] != .pcre2Only }
        if chunk.isEmpty { break }
        part.attempts += 1
        do throws(HyperscanDatabase.Failure) {
          part.databases.append(try compiled(chunk[...]))
          break
        } catch {
          guard let position = error.expression, position < chunk.count else {
            // Refused as a whole (resource limits): PCRE2 evaluates these patterns, and says why.
            for member in chunk { part.evaluation[member] = .pcre2Only }
            part.failure = error.message
            break
          }
          let pattern = chunk[position]
          part.refused.append(firstID + pattern)
          part.evaluation[pattern] = part.evaluation[pattern] == .prefilter ? .pcre2Only : .prefilter
        }
      }
    }
  }
}

/// How many patterns one database takes. Hyperscan's compile time grows with the patterns faster
/// than linearly for some shapes, unanchored bounded repeats above all: 200 of
/// `host{i}[0-9]{1,3}\.(?:example|test)\.net` compile in 3.9 s, 800 in over a minute, 4,000 in about
/// half an hour, while 5,000 domain-like regexes take about 6 s. A start (or a reload, cut off at
/// its limit) would wait for that. So a part of more than `smallestProbed` patterns is timed on its
/// first 128, 256, … patterns until a compile takes `measurableSeconds`; the growth between the
/// last two gives the exponent, and a part whose compile grows clearly faster than its patterns
/// (an exponent of `superlinearExponent` or more) and would take more than `wholeSeconds`, or that
/// would take more than `hopelessSeconds` whatever its growth (half a reload's default limit), is cut into databases that compile
/// in about `targetSeconds` each. The matches are the same either way (every database is
/// scanned); more databases cost more per scan, which only such a part pays. The exponent read
/// from two probes a doubling apart moves by a tenth or more with a few per cent of noise in
/// either, which puts the estimate of a linear part of 5,000 patterns anywhere from 7 s to 15 s:
/// cutting on the time alone split the regex benchmark's 10,000 patterns into 14 databases in one
/// run (2 in the run before), and its scans ran at a quarter of the speed. A linear part's compile
/// is paid once (the database is cached) and its scans for as long as it runs.
/// The probes cost at most about as much again as the largest one, which is a tenth of a second
/// of CPU unless the part is large and quick to build.
enum DatabaseSizing {
  struct Limits: Sendable, Equatable {
    var smallestProbed = 512
    var measurableSeconds = 0.1
    var wholeSeconds = 10.0
    var superlinearExponent = 1.5
    var hopelessSeconds = 30.0
    var targetSeconds = 1.0
  }

  /// Patterns per database for a part of `count` patterns; `probe(k)` compiles its first `k` and
  /// returns the CPU seconds it took (nil when the build refused them as a whole: the part stays
  /// whole, and its own build says why).
  static func patternsPerDatabase(members count: Int, limits: Limits = Limits(), probe: (Int) -> Double?) -> Int {
    guard count > limits.smallestProbed else { return count }
    var size = 128
    var previous: (size: Int, seconds: Double)?
    while true {
      guard let seconds = probe(size) else { return count }
      if seconds < limits.measurableSeconds {
        // Too quick to read a growth from; doubled while half the part is left to double into (the
        // whole part then takes at most a few times this).
        guard size * 2 <= count / 2 else { return count }
        previous = (size, seconds)
        size *= 2
        continue
      }
      let smaller: (size: Int, seconds: Double)
      if let previous {
        smaller = previous
      } else {
        guard let half = probe(size / 2) else { return count }
        smaller = (size / 2, half)
      }
      // Between linear and cubic: timer noise on the smaller compile must not read as an explosion.
      let exponent = min(3, max(1, log2(seconds / max(smaller.seconds, 1e-6))))
      let whole = seconds * pow(Double(count) / Double(size), exponent)
      guard (exponent >= limits.superlinearExponent && whole > limits.wholeSeconds) || whole > limits.hopelessSeconds
      else { return count }
      let fitting = Double(size) * pow(limits.targetSeconds / seconds, 1 / exponent)
      return max(16, min(count, Int(fitting)))
    }
  }
}

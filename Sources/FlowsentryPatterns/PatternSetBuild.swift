import CFlowsentryHyperscan
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Building a ``PatternSet``'s databases: the patterns, in order, cut into parts of
/// `patternsPerDatabase`; each part classified (exact, prefilter or PCRE2-only, asking Hyperscan's
/// parser one pattern at a time) and compiled into one database by the same thread, the parts
/// shared by a few threads. A part's outcome depends on its patterns alone, so the databases are
/// the same whatever the threads, and a pattern the build refuses costs a rebuild of its part only.
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

  /// What building one part gave: its patterns' evaluations (the part's range of ids), its database.
  struct Part: @unchecked Sendable {
    var evaluation: [PatternEvaluation]
    var database: HyperscanDatabase?
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
      return buildPart(Array(patterns[range]), Array(syntax[range]), firstID: range.lowerBound)
    }
    var outcome = Outcome(evaluation: [], databases: [], threads: max(1, threads))
    outcome.evaluation.reserveCapacity(patterns.count)
    for part in built {
      outcome.evaluation += part.evaluation
      if let database = part.database { outcome.databases.append(database) }
      outcome.failure = outcome.failure ?? part.failure
      outcome.attempts += part.attempts
      outcome.refused += part.refused
      outcome.classification += part.classification
      outcome.compile += part.compile
    }
    return outcome
  }

  /// Classifies and compiles the patterns of one part; their Hyperscan ids are `firstID` on.
  static func buildPart(_ patterns: [PatternSpec], _ syntax: [PatternSyntax], firstID: Int) -> Part {
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
    compile(&part, patterns, syntax, firstID: firstID)
    part.compile = threadCPUTime() - classified
    return part
  }

  /// The calling thread's CPU time.
  static func threadCPUTime() -> Duration {
    var time = timespec()
    guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time) == 0 else { return .zero }
    return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
  }

  /// Builds the part's database, moving each pattern the build refuses one step down and retrying.
  private static func compile(_ part: inout Part, _ patterns: [PatternSpec], _ syntax: [PatternSyntax], firstID: Int) {
    while true {
      let members = part.evaluation.indices.filter { part.evaluation[$0] != .pcre2Only }
      if members.isEmpty { return }
      part.attempts += 1
      do {
        part.database = try HyperscanDatabase(
          expressions: members.map { syntax[$0].hyperscanExpression(patterns[$0].pattern) },
          flags: members.map {
            PatternSet.flags(patterns[$0], syntax[$0], prefilter: part.evaluation[$0] == .prefilter)
          },
          ids: members.map { UInt32(firstID + $0) })
        return
      } catch {
        guard let position = error.expression, position < members.count else {
          // Refused as a whole (resource limits): PCRE2 evaluates this part's patterns, and says why.
          part.evaluation = [PatternEvaluation](repeating: .pcre2Only, count: patterns.count)
          part.failure = error.message
          return
        }
        let pattern = members[position]
        part.refused.append(firstID + pattern)
        part.evaluation[pattern] = part.evaluation[pattern] == .prefilter ? .pcre2Only : .prefilter
      }
    }
  }
}

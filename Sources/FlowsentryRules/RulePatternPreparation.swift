import FlowsentryCore
import FlowsentryPatterns
import Foundation

/// What building a rule set's pattern sets did: the monitor logs it at every load, `rules check`
/// prints it, and `/metrics` serves its counts for the running set.
public struct PatternPreparation: Sendable, Equatable {
  /// Fields with a pattern set, and the distinct patterns in them.
  public var fields = 0
  public var patterns = 0
  /// Literal sets (one per field, operation and case folding of `contains`, `startswith`, `endswith`),
  /// and their Hyperscan databases (`contains` only): how many, their needles, how many loaded from
  /// the cache, their bytes.
  public var literalSets = 0
  public var literalDatabaseNeedles = 0
  public var literalDatabases = 0
  public var literalDatabasesFromCache = 0
  public var literalDatabaseBytes = 0
  /// Patterns by how they are evaluated (Hyperscan exact, confirmed, prefilter, PCRE2 only).
  public var evaluation: [PatternEvaluation: Int] = [:]
  /// Each field's patterns, in the order the rules first test them (fields whose set failed too).
  public var byField: [FieldPatterns] = []
  /// Databases loaded from the on-disk cache, and built because it had none (or a damaged one).
  public var cacheHits: UInt64 = 0
  public var cacheMisses: UInt64 = 0
  /// Of the misses, cache files found damaged (rebuilt and replaced).
  public var cacheDamaged: UInt64 = 0
  public var cacheWriteFailures: UInt64 = 0
  /// The last cache write that failed, `path: error`: every start compiles again until it is fixed.
  public var cacheWriteFailure: String?
  /// Building (or loading) them all; of which, the pattern sets' steps and the literal sets.
  public var duration: Swift.Duration = .zero
  public var phases = PatternSet.Phases()
  public var literalDuration: Swift.Duration = .zero
  /// The pattern sets' Hyperscan databases, and their size in bytes.
  public var databases = 0
  public var databaseBytes = 0

  /// The sum of several loads' outcomes (a set assembled from several loads has several indexes).
  static func combined(_ outcomes: [PatternPreparation]) -> PatternPreparation {
    var total = PatternPreparation()
    for outcome in outcomes {
      total.fields += outcome.fields
      total.patterns += outcome.patterns
      total.literalSets += outcome.literalSets
      total.literalDatabaseNeedles += outcome.literalDatabaseNeedles
      total.literalDatabases += outcome.literalDatabases
      total.literalDatabasesFromCache += outcome.literalDatabasesFromCache
      total.literalDatabaseBytes += outcome.literalDatabaseBytes
      for (kind, count) in outcome.evaluation { total.evaluation[kind, default: 0] += count }
      total.byField += outcome.byField
      total.cacheHits &+= outcome.cacheHits
      total.cacheMisses &+= outcome.cacheMisses
      total.cacheDamaged &+= outcome.cacheDamaged
      total.cacheWriteFailures &+= outcome.cacheWriteFailures
      total.cacheWriteFailure = outcome.cacheWriteFailure ?? total.cacheWriteFailure
      total.duration += outcome.duration
      total.phases += outcome.phases
      total.literalDuration += outcome.literalDuration
      total.databases += outcome.databases
      total.databaseBytes += outcome.databaseBytes
    }
    return total
  }

  /// One line saying what was built: `5000 regexes in 2 fields (4,610 exact, …), built in 4.8 s, 5.5 MB`,
  /// then the `contains` lists' databases when there are any (`; 200,000 `contains` needles in 1
  /// list database, loaded from the cache in 0.3 s, 31.0 MB`): a list of that size takes over ten seconds to compile.
  public var summary: String {
    let literals = literalDatabases > 0 ? literalSummary : nil
    guard patterns > 0 || byField.contains(where: { $0.failure != nil }) else {
      return literals.map { "no regexes; " + $0 } ?? "no regexes"
    }
    let counts = PatternEvaluation.allCases.map { "\(grouped(evaluation[$0, default: 0])) \($0.label)" }
    // The cache's counts are the literal databases' too (one cache serves both).
    let hits = Int(cacheHits) - literalDatabasesFromCache
    let misses = cacheMisses > 0 ? Int(cacheMisses) - (literalDatabases - literalDatabasesFromCache) : 0
    // Loaded whole from the cache, or built (some databases perhaps from the cache).
    let time = Self.seconds(duration - literalDuration)
    let how =
      hits > 0 && misses <= 0
      ? "loaded from the cache in \(time)"
      : "built in \(time)" + (hits > 0 ? " (\(counted(hits, "database file")) from the cache)" : "")
    return
      "\(grouped(patterns)) \(patterns == 1 ? "regex" : "regexes") in \(counted(fields, "field")) (\(counts.joined(separator: ", "))), "
      + "\(how), \(Self.megabytes(databaseBytes))" + (literals.map { "; " + $0 } ?? "")
  }

  private var literalSummary: String {
    let how =
      literalDatabasesFromCache == literalDatabases
      ? "loaded from the cache"
      : literalDatabasesFromCache > 0 ? "built (\(literalDatabasesFromCache) from the cache)" : "built"
    return
      "\(grouped(literalDatabaseNeedles)) `contains` needles in \(counted(literalDatabases, "list database")), \(how) in "
      + "\(Self.seconds(literalDuration)), \(Self.megabytes(literalDatabaseBytes))"
  }

  /// Tenths say a cold start's seconds; a small set's hundredths are all it has.
  private static func seconds(_ duration: Swift.Duration) -> String {
    let seconds = duration.inSeconds
    return String(format: seconds >= 1 ? "%.1f s" : "%.2f s", seconds)
  }

  private static func megabytes(_ bytes: Int) -> String {
    bytes >= 1_000_000
      ? String(format: "%.1f MB", Double(bytes) / 1_000_000) : String(format: "%.0f kB", Double(bytes) / 1_000)
  }
}

/// One field's pattern set: its patterns by evaluation, and each PCRE2-only one with why.
public struct FieldPatterns: Sendable, Equatable {
  public var field: String
  /// Distinct patterns (a pattern tested by several rules counts once).
  public var patterns: Int
  public var evaluation: [PatternEvaluation: Int] = [:]
  public var pcre2Only: [PCRE2OnlyPattern] = []
  /// Why the field's patterns (or some of them) fell back to PCRE2 as a whole: the set could not be
  /// built, or one of its Hyperscan databases could not. Nil when all went as classified.
  public var failure: String?

  init(field: String, patterns: Int, failure: String) {
    self.field = field
    self.patterns = patterns
    self.evaluation = [.pcre2Only: patterns]
    self.failure = "the pattern set could not be built (\(failure)); every regex on it runs on PCRE2 alone"
  }

  init(_ field: String, _ set: PatternSet, leaves: [RegexLeaf], ids: [PatternSpec: Int]) {
    self.field = field
    patterns = set.patterns.count
    evaluation = set.statistics.counts
    failure = set.statistics.hyperscanFailure.map {
      "a Hyperscan database could not be built (\($0)); its regexes run on PCRE2 alone"
    }
    var uses: [Int: [PatternUse]] = [:]
    for leaf in leaves where set.evaluation[ids[leaf.spec]!] == .pcre2Only {
      let place = "\(leaf.location.file):\(leaf.location.line):\(leaf.location.column)"
      let rules = leaf.ruleIDs.isEmpty ? [""] : leaf.ruleIDs
      uses[ids[leaf.spec]!, default: []] += rules.map { PatternUse(ruleID: $0, location: place) }
    }
    pcre2Only = set.evaluation.indices.filter { set.evaluation[$0] == .pcre2Only }.map { id in
      PCRE2OnlyPattern(set: set, id: id, uses: uses[id] ?? [])
    }
  }
}

/// A pattern PCRE2 evaluates on every value of its field, and where the rules test it.
public struct PCRE2OnlyPattern: Sendable, Equatable {
  private let patternSet: PatternSet
  private let id: Int
  public var uses: [PatternUse]

  init(set: PatternSet, id: Int, uses: [PatternUse]) {
    patternSet = set
    self.id = id
    self.uses = uses
  }

  public var pattern: String { patternSet.patterns[id].pattern }
  public var caseInsensitive: Bool { patternSet.patterns[id].caseInsensitive }
  /// Worked out when asked (`rules check`): every load prepares this, and only the report reads it.
  public var reason: String { patternSet.pcre2OnlyReason(id) ?? "" }

  public static func == (first: PCRE2OnlyPattern, second: PCRE2OnlyPattern) -> Bool {
    first.patternSet === second.patternSet && first.id == second.id && first.uses == second.uses
  }
}

public struct PatternUse: Sendable, Equatable {
  public var ruleID: String
  /// `file:line:col` of the regex's opening quote.
  public var location: String
}

extension PatternEvaluation {
  /// As the log line, `rules check` and the metrics' `evaluation` label say it.
  public var label: String {
    switch self {
    case .exact: return "exact"
    case .confirmed: return "confirmed"
    case .prefilter: return "prefilter"
    case .pcre2Only: return "PCRE2 only"
    }
  }

  public var metricLabel: String {
    switch self {
    case .exact: return "exact"
    case .confirmed: return "confirmed"
    case .prefilter: return "prefilter"
    case .pcre2Only: return "pcre2_only"
    }
  }
}

/// `4610` as `4,610`: the log line's counts run to tens of thousands.
func grouped(_ number: Int) -> String {
  let digits = String(number.magnitude)
  var out = ""
  for (index, digit) in digits.enumerated() {
    if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
    out.append(digit)
  }
  return (number < 0 ? "-" : "") + out
}

extension RuleSet {
  /// The directory under `state_dir` where compiled pattern databases are kept.
  public static func patternCacheDirectory(stateDirectory: String) -> String {
    (stateDirectory as NSString).appendingPathComponent("patterns")
  }

  /// Builds the rules' pattern sets now (the loader's thread calls this, so that the pipeline never
  /// compiles them), with the database cache under `stateDirectory/patterns` when one is given.
  /// An engine given a set not prepared builds them itself. `patternCacheDirectory`, when given, is
  /// the cache itself instead (`rules test` and `replay --pattern-cache`).
  @discardableResult
  public func preparePatterns(stateDirectory: String?, patternCacheDirectory: String? = nil) -> PatternPreparation {
    let cacheDirectory = patternCacheDirectory ?? stateDirectory.map(Self.patternCacheDirectory)
    return .combined(patternIndexes.map { $0.prepare(cacheDirectory: cacheDirectory) })
  }

  /// What ``preparePatterns(stateDirectory:)`` did, without building: nil until it (or an engine)
  /// has built every index's sets.
  public var preparedPatterns: PatternPreparation? {
    let outcomes = patternIndexes.map(\.preparedOutcome)
    guard outcomes.allSatisfy({ $0 != nil }) else { return nil }
    return .combined(outcomes.compactMap { $0 })
  }

  /// The distinct indexes of the rules (one per load; a set assembled from several loads has more).
  var patternIndexes: [RulePatternIndex] {
    var seen: Set<ObjectIdentifier> = []
    return rules.compactMap(\.patternIndex).filter { seen.insert(ObjectIdentifier($0)).inserted }
  }
}

/// A count of patterns evaluated one way, named as people and metrics read it (so that the
/// monitor and `rules check` need not know FlowsentryPatterns' types).
public struct EvaluationCount: Sendable, Equatable {
  public var label: String
  public var metricLabel: String
  public var count: Int
  public var pcre2Only: Bool
}

extension PatternPreparation {
  /// Every evaluation, in the order exact, confirmed, prefilter, PCRE2 only.
  public var evaluationCounts: [EvaluationCount] { EvaluationCount.all(evaluation) }
  public var pcre2OnlyCount: Int { evaluation[.pcre2Only, default: 0] }
}

extension FieldPatterns {
  public var evaluationCounts: [EvaluationCount] { EvaluationCount.all(evaluation) }
}

extension EvaluationCount {
  static func all(_ evaluation: [PatternEvaluation: Int]) -> [EvaluationCount] {
    PatternEvaluation.allCases.map {
      EvaluationCount(
        label: $0.label, metricLabel: $0.metricLabel, count: evaluation[$0, default: 0], pcre2Only: $0 == .pcre2Only)
    }
  }
}

extension PatternPreparation {
  /// One field holding one pattern of each evaluation: what `flowsentry docs counters` describes
  /// the per-field rows with.
  public static func documentationSample(field: String) -> PatternPreparation {
    var sample = PatternPreparation()
    var patterns = FieldPatterns(field: field, patterns: 0, failure: "")
    patterns.failure = nil
    patterns.evaluation = Dictionary(uniqueKeysWithValues: PatternEvaluation.allCases.map { ($0, 1) })
    patterns.patterns = PatternEvaluation.allCases.count
    sample.byField = [patterns]
    return sample
  }
}

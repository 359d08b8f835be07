import CFlowsentryHyperscan
import Foundation

/// One regular expression as the rule engine compiles it: PCRE2 in UTF mode, caseless when asked.
public struct PatternSpec: Hashable, Sendable {
  public var pattern: String
  public var caseInsensitive: Bool
  public init(_ pattern: String, caseInsensitive: Bool = false) {
    self.pattern = pattern
    self.caseInsensitive = caseInsensitive
  }
}

/// How a pattern of a ``PatternSet`` is evaluated.
public enum PatternEvaluation: UInt8, Sendable, CaseIterable {
  /// Hyperscan's match is the answer.
  case exact = 0
  /// Compiled exactly by Hyperscan, but written beyond the subset whose meaning both engines
  /// share: PCRE2 confirms each Hyperscan match.
  case confirmed = 1
  /// Compiled by Hyperscan as a prefilter (a superset of the matches): PCRE2 confirms each.
  case prefilter = 2
  /// Not in the Hyperscan database: PCRE2 evaluates it on every subject.
  case pcre2Only = 3
}

/// Many regular expressions compiled into one Hyperscan database, whose answer for any subject is
/// exactly PCRE2's: the set of patterns PCRE2 alone would match. Immutable and shared by threads;
/// each thread scans with its own ``PatternScanner`` (``makeScanner()``).
public final class PatternSet: @unchecked Sendable {
  /// A pattern PCRE2 does not accept (PCRE2 is the reference, so Hyperscan's view does not matter).
  public struct CompileError: Error, CustomStringConvertible {
    /// The pattern's position in the list given to ``PatternSet/init(_:cache:)``.
    public var index: Int
    public var pattern: String
    /// PCRE2's byte offset in the pattern where it stopped.
    public var offset: Int
    public var message: String
    public var description: String { "pattern \(index) (\(pattern)): \(message) at offset \(offset)" }
  }

  public struct Statistics: Sendable {
    /// Patterns by evaluation.
    public var counts: [PatternEvaluation: Int] = [:]
    /// The Hyperscan databases, and their size in bytes (0 without one).
    public var databases = 0
    public var databaseBytes = 0
    /// Threads that built them (classification and compiles share them).
    public var buildThreads = 0
    /// Where the database came from.
    public var source: DatabaseSource = .compiled
    /// Why a database's build failed as a whole (its patterns then run on PCRE2), if one did.
    public var hyperscanFailure: String?
    /// Database builds it took (each refused pattern costs one more; 0 when loaded or not needed).
    public var buildAttempts = 0
    /// Patterns Hyperscan's parser accepted but its build refused (each moved down one step).
    public var refusedByBuild: [Int] = []
    /// Where the set's construction spent its time.
    public var phases = Phases()
  }

  /// Time of each step of building a set (zero for a step it skipped): wall time, but for the steps
  /// the threads share (classification and `hs_compile_multi`), the CPU time of those threads, summed.
  public struct Phases: Sendable, Equatable {
    /// Reading each pattern's syntax, and compiling each with PCRE2 (validation, no JIT).
    public var syntax: Duration = .zero
    public var pcre2Compile: Duration = .zero
    /// Asking Hyperscan's parser about each pattern (exact, then prefilter).
    public var classification: Duration = .zero
    /// `hs_compile_multi`, all attempts of every database.
    public var hyperscanCompile: Duration = .zero
    /// Loading from, or writing to, the cache (with hashing the key).
    public var cache: Duration = .zero
    /// JIT-compiling the patterns PCRE2 runs on subjects.
    public var pcre2JIT: Duration = .zero

    public init() {}

    public static func += (total: inout Phases, phases: Phases) {
      total.syntax += phases.syntax
      total.pcre2Compile += phases.pcre2Compile
      total.classification += phases.classification
      total.hyperscanCompile += phases.hyperscanCompile
      total.cache += phases.cache
      total.pcre2JIT += phases.pcre2JIT
    }
  }

  /// How the databases are built. The patterns are cut into databases of `patternsPerDatabase`
  /// (in order), built in parallel: Hyperscan's compile time grows faster than the number of
  /// patterns, and a pattern its build refuses costs a rebuild of its database alone; each database
  /// costs a scan, so they are few. The partition is part of the cache key; the threads are not (the
  /// databases do not depend on them).
  public struct BuildOptions: Sendable, Equatable {
    public var patternsPerDatabase: Int
    public var threads: Int
    /// When a part is cut into several databases (``DatabaseSizing``); tests set smaller limits.
    var sizing = DatabaseSizing.Limits()

    public init(patternsPerDatabase: Int = 5_000, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
      self.patternsPerDatabase = max(1, patternsPerDatabase)
      self.threads = max(1, threads)
    }
  }

  public enum DatabaseSource: Equatable, Sendable {
    case compiled, cache
    /// The cache file for this set was unreadable or damaged; it was rebuilt (the cache counts it).
    case rebuiltDamagedCache
  }

  public let patterns: [PatternSpec]
  public let evaluation: [PatternEvaluation]
  public let statistics: Statistics
  /// The name of its cache file (`<key>.hsdb`) when built with a cache, so that the files a running
  /// set uses are known and the others can be pruned (``PatternDatabaseCache/prune(keeping:olderThan:)``).
  public let cacheKey: String?
  let programs: [PCRE2Program]
  let databases: [HyperscanDatabase]
  /// Ids PCRE2 evaluates on every subject.
  let alwaysEvaluated: [Int]
  /// Ids in the database that PCRE2 evaluates instead on a subject beyond ASCII (see ``PatternSyntax``).
  let unicodeSensitive: [Bool]
  let nonASCIIEvaluated: [Int]

  /// Compiles `patterns` (ids are their positions); with `cache`, loads the databases compiled
  /// for the same patterns, partition, library and platform instead, and stores newly compiled ones.
  public init(_ patterns: [PatternSpec], cache: PatternDatabaseCache? = nil, options: BuildOptions = BuildOptions())
    throws(CompileError)
  {
    self.patterns = patterns
    let clock = ContinuousClock()
    var phases = Phases()
    var started = clock.now
    let syntax = patterns.map { PatternSyntax($0.pattern, caseInsensitive: $0.caseInsensitive) }
    phases.syntax = clock.now - started
    started = clock.now
    var programs: [PCRE2Program] = []
    programs.reserveCapacity(patterns.count)
    for (index, spec) in patterns.enumerated() {
      do {
        // PCRE2 runs exact patterns never; they skip the JIT.
        programs.append(try PCRE2Program(spec.pattern, caseInsensitive: spec.caseInsensitive, jit: false))
      } catch {
        throw CompileError(index: index, pattern: spec.pattern, offset: error.offset, message: error.message)
      }
    }
    phases.pcre2Compile = clock.now - started
    var statistics = Statistics()
    var built: (evaluation: [PatternEvaluation], databases: [HyperscanDatabase])?
    started = clock.now
    let key = cache.map { _ in PatternDatabaseCache.key(for: patterns, patternsPerDatabase: options.patternsPerDatabase)
    }
    cacheKey = key
    if let cache, let key {
      switch cache.load(key: key, patternCount: patterns.count) {
      case .found(let evaluation, let databases):
        built = (evaluation, databases)
        statistics.source = .cache
      case .missing: break
      case .damaged: statistics.source = .rebuiltDamagedCache
      }
    }
    phases.cache = clock.now - started
    if built == nil {
      let compiled = PatternSetBuild.build(patterns, syntax, options: options)
      phases.classification = compiled.classification
      phases.hyperscanCompile = compiled.compile
      statistics.hyperscanFailure = compiled.failure
      statistics.buildAttempts = compiled.attempts
      statistics.refusedByBuild = compiled.refused
      statistics.buildThreads = compiled.threads
      built = (compiled.evaluation, compiled.databases)
      started = clock.now
      if let cache, let key {
        cache.store(key: key, evaluation: compiled.evaluation, databases: compiled.databases)
      }
      phases.cache += clock.now - started
    }
    let evaluation = built!.evaluation
    self.evaluation = evaluation
    databases = built!.databases
    // JIT what PCRE2 will run; the validation compile above stays for the rest.
    started = clock.now
    self.programs = programs.enumerated().map { index, program in
      guard evaluation[index] != .exact || syntax[index].unicodeSensitive else { return program }
      return (try? PCRE2Program(program.pattern, caseInsensitive: program.caseInsensitive)) ?? program
    }
    alwaysEvaluated = evaluation.indices.filter { evaluation[$0] == .pcre2Only }
    unicodeSensitive = syntax.map(\.unicodeSensitive)
    nonASCIIEvaluated = evaluation.indices.filter { evaluation[$0] != .pcre2Only && syntax[$0].unicodeSensitive }
    for kind in evaluation { statistics.counts[kind, default: 0] += 1 }
    phases.pcre2JIT = clock.now - started
    statistics.databases = databases.count
    statistics.databaseBytes = databases.reduce(0) { $0 + $1.byteSize }
    statistics.phases = phases
    self.statistics = statistics
  }

  public func makeScanner() -> PatternScanner { PatternScanner(self) }

  static let baseFlags = UInt32(HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY)

  static func flags(_ spec: PatternSpec, _ syntax: PatternSyntax, prefilter: Bool) -> UInt32 {
    baseFlags | (syntax.asciiOnly ? 0 : UInt32(HS_FLAG_UTF8)) | (spec.caseInsensitive ? UInt32(HS_FLAG_CASELESS) : 0)
      | (prefilter ? UInt32(HS_FLAG_PREFILTER) : 0)
  }
}

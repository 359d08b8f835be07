import FlowsentryCore
import FlowsentryPatterns
import Foundation
import Synchronization

/// One `matches`/`imatches` test in a condition. Until its rule set's pattern sets are built it
/// runs its own PCRE2 regex; then it reads its field's scan, which tests every regex on that field
/// once per event value (docs/PATTERNS.md "Wiring"). Either way the answer is PCRE2's, and the limit
/// hits counted are those of this test evaluated alone, in the condition's order.
final class RegexLeaf {
  let field: Field
  let regex: PCRE2Regex
  /// Where the regex is written (its opening quote), for `rules check`'s list of PCRE2-only patterns.
  let location: SourceLocation
  /// The field's scan and this pattern's id in it, once built (``RulePatternIndex/prepare``).
  fileprivate(set) var scan: FieldScan? {
    didSet { scanInPlace = scan.map { Unmanaged.passUnretained($0) } }
  }
  /// `scan`, called without a retain on every test (as ``LiteralLeaf``'s): `scan` keeps it alive.
  private var scanInPlace: Unmanaged<FieldScan>?
  fileprivate(set) var pattern = 0
  /// The rules whose conditions hold this test (several when a macro holding it is used by several).
  var ruleIDs: [String] = []
  /// Limit hits read from scans (the regex counts those it evaluated itself).
  fileprivate(set) var scannedLimitHits: UInt64 = 0
  var limitHits: UInt64 { regex.limitHits &+ scannedLimitHits }

  init(field: Field, regex: PCRE2Regex, location: SourceLocation) {
    self.field = field
    self.regex = regex
    self.location = location
  }

  var spec: PatternSpec { PatternSpec(regex.pattern, caseInsensitive: regex.program.caseInsensitive) }

  func matches(_ event: EventFields) -> Bool {
    if let scanInPlace { return scanInPlace._withUnsafeGuaranteedRef { $0.test(pattern, self, event) } }
    switch field.accessor {
    case .string(let read): return read(event).map(regex.matches) ?? false
    case .strings(let read): return read(event).contains(where: regex.matches)
    case .integer, .address: return false
    }
  }
}

/// The regexes that test one field, in one ``PatternSet``, and the answers for the value it scanned
/// last. A value is scanned once, however many rules test it: the result is a function of the
/// value alone, so it is kept until the field holds another value. Not thread-safe, as a rule set's
/// compiled regexes never were: one engine evaluates a rule set at a time (its Hyperscan scratch and
/// PCRE2 match data are this object's). The answers live behind pointers, allocated once: a scan
/// allocates nothing and touches no class property (each such access is checked at run time).
final class FieldScan {
  struct Answers {
    /// `matchStamp[id] == stamp`: pattern `id` matched some element of the value scanned last,
    /// first the element `firstElement[id]` (elements in order: a name list has several).
    var stamp: UInt32 = 0
    var matchStamp: UnsafeMutablePointer<UInt32>
    var firstElement: UnsafeMutablePointer<Int32>
    /// The patterns that matched some element, each once, in the order found.
    var matched: UnsafeMutablePointer<Int32>
    var matchedCount = 0
    var element: Int32 = 0
    /// Each element and pattern a PCRE2 limit stopped, in order (rare: patterns that can meet the
    /// limit are few, and PCRE2 meets it only on subjects made for it).
    var limits: [(element: Int32, id: Int32)] = []
  }

  let field: Field
  let set: PatternSet
  private let scanner: PatternScanner
  private let value: UnsafeMutablePointer<ScannedValue>
  private let answers: UnsafeMutablePointer<Answers>

  init(field: Field, set: PatternSet) {
    self.field = field
    self.set = set
    scanner = set.makeScanner()
    let count = max(1, set.patterns.count)
    value = .allocate(capacity: 1)
    value.initialize(to: ScannedValue(field))
    let matchStamp = UnsafeMutablePointer<UInt32>.allocate(capacity: count)
    matchStamp.initialize(repeating: 0, count: count)
    answers = .allocate(capacity: 1)
    answers.initialize(
      to: Answers(matchStamp: matchStamp, firstElement: .allocate(capacity: count), matched: .allocate(capacity: count))
    )
  }

  deinit {
    value.deinitialize(count: 1)
    value.deallocate()
    answers.pointee.matchStamp.deallocate()
    answers.pointee.firstElement.deallocate()
    answers.pointee.matched.deallocate()
    answers.deinitialize(count: 1)
    answers.deallocate()
  }

  /// The patterns that matched some element of the value scanned last, in no particular order.
  var matchedIDs: UnsafeBufferPointer<Int32> {
    UnsafeBufferPointer(start: answers.pointee.matched, count: answers.pointee.matchedCount)
  }

  /// Whether a PCRE2 limit stopped some pattern on the value scanned last.
  var hasLimitHits: Bool { !answers.pointee.limits.isEmpty }

  /// Scans the field's value in `event` unless it is the value scanned last.
  func update(_ event: EventFields) {
    if value.pointee.isCurrent(event) { return }
    value.pointee.refresh(event, begin: begin, element: add)
  }

  /// Whether pattern `id` matches the field in `event`, as the regex alone would answer; a limit
  /// hit on an element tested before the first match counts for `leaf`, as it would alone.
  func test(_ id: Int, _ leaf: RegexLeaf, _ event: EventFields) -> Bool {
    update(event)
    let matched = answers.pointee.matchStamp[id] == answers.pointee.stamp
    if answers.pointee.limits.isEmpty { return matched }
    let matchedAt = matched ? answers.pointee.firstElement[id] : Int32.max
    for limit in answers.pointee.limits where Int(limit.id) == id && limit.element < matchedAt {
      leaf.scannedLimitHits &+= 1
    }
    return matched
  }

  private func begin() {
    answers.pointee.stamp &+= 1
    if answers.pointee.stamp == 0 {
      answers.pointee.matchStamp.update(repeating: 0, count: max(1, set.patterns.count))
      answers.pointee.stamp = 1
    }
    answers.pointee.matchedCount = 0
    answers.pointee.element = 0
    if !answers.pointee.limits.isEmpty { answers.pointee.limits.removeAll(keepingCapacity: true) }
  }

  private func add(_ value: String) {
    value.withUTF8Bytes { scanner.scan($0) }
    let stamp = answers.pointee.stamp
    let element = answers.pointee.element
    for id in scanner.matchedIDs where answers.pointee.matchStamp[Int(id)] != stamp {
      answers.pointee.matchStamp[Int(id)] = stamp
      answers.pointee.firstElement[Int(id)] = element
      answers.pointee.matched[answers.pointee.matchedCount] = id
      answers.pointee.matchedCount += 1
    }
    for id in scanner.limitedIDs { answers.pointee.limits.append((element, id)) }
    answers.pointee.element = element &+ 1
  }
}

/// A rule set's regex tests grouped by field, and their pattern sets once built. Shared by the
/// rules of one load; built once, off the pipeline when the loader calls
/// ``RuleSet/preparePatterns(stateDirectory:)``, else by the first engine that evaluates them.
final class RulePatternIndex: @unchecked Sendable {
  let leaves: [RegexLeaf]
  let literalLeaves: [LiteralLeaf]
  private let prepared = Mutex<PatternPreparation?>(nil)
  /// Whether an engine has counted this index's cache lookups (once per load, not per engine).
  private let counted = Atomic<Bool>(false)

  init(leaves: [RegexLeaf], literalLeaves: [LiteralLeaf]) {
    self.leaves = leaves
    self.literalLeaves = literalLeaves
  }

  /// Builds one pattern set per field (loading each database from `cacheDirectory` when it holds
  /// one) and points every leaf at its field's scan; later calls return the first one's outcome.
  func prepare(cacheDirectory: String?) -> PatternPreparation {
    prepared.withLock { known in
      if let known { return known }
      let started = ContinuousClock.now
      var outcome = PatternPreparation()
      let cache = cacheDirectory.map { PatternDatabaseCache(directory: URL(fileURLWithPath: $0)) }
      var byField: [String: [RegexLeaf]] = [:]
      var fieldOrder: [String] = []
      for leaf in leaves {
        if byField[leaf.field.name] == nil { fieldOrder.append(leaf.field.name) }
        byField[leaf.field.name, default: []].append(leaf)
      }
      for name in fieldOrder {
        let fieldLeaves = byField[name]!
        var ids: [PatternSpec: Int] = [:]
        var specs: [PatternSpec] = []
        for leaf in fieldLeaves where ids[leaf.spec] == nil {
          ids[leaf.spec] = specs.count
          specs.append(leaf.spec)
        }
        // PCRE2 compiled every pattern already; should the set still fail, the leaves keep their own
        // regexes, and the outcome says so (the monitor logs it, `rules check` prints it).
        let set: PatternSet
        do {
          set = try PatternSet(specs, cache: cache)
        } catch {
          outcome.byField.append(FieldPatterns(field: name, patterns: specs.count, failure: "\(error)"))
          continue
        }
        let scan = FieldScan(field: fieldLeaves[0].field, set: set)
        for leaf in fieldLeaves {
          leaf.scan = scan
          leaf.pattern = ids[leaf.spec]!
        }
        outcome.byField.append(FieldPatterns(name, set, leaves: fieldLeaves, ids: ids))
        outcome.fields += 1
        outcome.patterns += specs.count
        for (kind, count) in set.statistics.counts { outcome.evaluation[kind, default: 0] += count }
        outcome.phases += set.statistics.phases
        outcome.databases += set.statistics.databases
        outcome.databaseBytes += set.statistics.databaseBytes
      }
      let literalsStarted = ContinuousClock.now
      let literals = LiteralLeaf.bind(literalLeaves, cache: cache)
      outcome.literalSets = literals.sets
      outcome.literalDatabaseNeedles = literals.databaseNeedles
      outcome.literalDatabases = literals.databases
      outcome.literalDatabasesFromCache = literals.loadedFromCache
      outcome.literalDatabaseBytes = literals.databaseBytes
      outcome.literalDuration = ContinuousClock.now - literalsStarted
      if let cache {
        let counters = cache.currentCounters
        outcome.cacheHits = counters.hits
        outcome.cacheMisses = counters.misses &+ counters.damaged
        outcome.cacheDamaged = counters.damaged
        outcome.cacheWriteFailures = counters.writeFailures
        outcome.cacheWriteFailure = cache.lastWriteFailure
      }
      outcome.duration = ContinuousClock.now - started
      known = outcome
      return outcome
    }
  }

  /// Whether ``prepare`` ran (its sets are built, or failed and left to PCRE2).
  var isPrepared: Bool { prepared.withLock { $0 != nil } }

  /// The outcome of ``prepare`` when it has run, without running it.
  var preparedOutcome: PatternPreparation? { prepared.withLock { $0 } }

  /// The outcome of ``prepare``, to the first caller only (engines add it to their counters).
  func takeOutcomeForCounting() -> PatternPreparation? {
    guard !counted.exchange(true, ordering: .acquiringAndReleasing) else { return nil }
    return prepared.withLock { $0 }
  }
}

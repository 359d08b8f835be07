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
  /// The field's scan and this pattern's id in it, once built (``RulePatternIndex/prepare``).
  fileprivate(set) var scan: FieldScan?
  fileprivate(set) var pattern = 0
  /// Limit hits read from scans (the regex counts those it evaluated itself).
  fileprivate(set) var scannedLimitHits: UInt64 = 0
  var limitHits: UInt64 { regex.limitHits &+ scannedLimitHits }

  init(field: Field, regex: PCRE2Regex) {
    self.field = field
    self.regex = regex
  }

  var spec: PatternSpec { PatternSpec(regex.pattern, caseInsensitive: regex.program.caseInsensitive) }

  func matches(_ event: EventFields) -> Bool {
    if let scan { return scan.test(pattern, self, event) }
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
/// PCRE2 match data are this object's).
final class FieldScan {
  let field: Field
  let set: PatternSet
  private let scanner: PatternScanner
  private var value = ScannedValue()
  /// `matchStamp[id] == stamp`: the pattern matched some element of the value scanned last.
  private var stamp: UInt32 = 0
  private var matchStamp: [UInt32]
  /// Patterns that matched some element, and patterns a PCRE2 limit stopped on some element.
  private(set) var matchedIDs: [Int] = []
  private(set) var limitIDs: [Int] = []
  /// Per element in order (a name list has several): its matches and limit hits, flat.
  private var elementMatches: [Int32] = []
  private var elementMatchEnds: [Int] = []
  private var elementLimits: [Int32] = []
  private var elementLimitEnds: [Int] = []

  init(field: Field, set: PatternSet) {
    self.field = field
    self.set = set
    scanner = set.makeScanner()
    matchStamp = [UInt32](repeating: 0, count: set.patterns.count)
  }

  /// Scans the field's value in `event` unless it is the value scanned last.
  func update(_ event: EventFields) {
    value.refresh(field, event, begin: begin, element: add)
  }

  /// Whether pattern `id` matches the field in `event`, as the regex alone would answer; a limit
  /// hit on an element tested before the first match counts for `leaf`, as it would alone.
  func test(_ id: Int, _ leaf: RegexLeaf, _ event: EventFields) -> Bool {
    update(event)
    if limitIDs.isEmpty { return matchStamp[id] == stamp }
    var matchStart = 0
    var limitStart = 0
    for element in elementMatchEnds.indices {
      let matchEnd = elementMatchEnds[element]
      let limitEnd = elementLimitEnds[element]
      defer {
        matchStart = matchEnd
        limitStart = limitEnd
      }
      if elementMatches[matchStart..<matchEnd].contains(Int32(id)) { return true }
      if elementLimits[limitStart..<limitEnd].contains(Int32(id)) { leaf.scannedLimitHits &+= 1 }
    }
    return false
  }

  private func begin() {
    stamp &+= 1
    if stamp == 0 {
      for index in matchStamp.indices { matchStamp[index] = 0 }
      stamp = 1
    }
    matchedIDs.removeAll(keepingCapacity: true)
    limitIDs.removeAll(keepingCapacity: true)
    elementMatches.removeAll(keepingCapacity: true)
    elementMatchEnds.removeAll(keepingCapacity: true)
    elementLimits.removeAll(keepingCapacity: true)
    elementLimitEnds.removeAll(keepingCapacity: true)
  }

  private func add(_ value: String) {
    for id in scanner.matches(value) {
      elementMatches.append(Int32(id))
      if matchStamp[id] != stamp {
        matchStamp[id] = stamp
        matchedIDs.append(id)
      }
    }
    elementMatchEnds.append(elementMatches.count)
    for id in scanner.lastLimitHits {
      elementLimits.append(Int32(id))
      if !limitIDs.contains(id) { limitIDs.append(id) }
    }
    elementLimitEnds.append(elementLimits.count)
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
        // PCRE2 compiled every pattern already; should the set still fail, the leaves keep their own regexes.
        guard let set = try? PatternSet(specs, cache: cache) else { continue }
        let scan = FieldScan(field: fieldLeaves[0].field, set: set)
        for leaf in fieldLeaves {
          leaf.scan = scan
          leaf.pattern = ids[leaf.spec]!
        }
        outcome.fields += 1
        outcome.patterns += specs.count
        for (kind, count) in set.statistics.counts { outcome.evaluation[kind, default: 0] += count }
        outcome.phases += set.statistics.phases
        outcome.databaseBytes += set.statistics.databaseBytes
      }
      let literalsStarted = ContinuousClock.now
      outcome.literalSets = LiteralLeaf.bind(literalLeaves)
      outcome.literalDuration = ContinuousClock.now - literalsStarted
      if let cache {
        let counters = cache.currentCounters
        outcome.cacheHits = counters.hits
        outcome.cacheMisses = counters.misses &+ counters.damaged
        outcome.cacheWriteFailures = counters.writeFailures
      }
      outcome.duration = ContinuousClock.now - started
      known = outcome
      return outcome
    }
  }

  /// The outcome of ``prepare``, to the first caller only (engines add it to their counters).
  func takeOutcomeForCounting() -> PatternPreparation? {
    guard !counted.exchange(true, ordering: .acquiringAndReleasing) else { return nil }
    return prepared.withLock { $0 }
  }
}

/// What building a rule set's pattern sets did.
public struct PatternPreparation: Sendable, Equatable {
  /// Fields with a pattern set, and the distinct patterns in them.
  public var fields = 0
  public var patterns = 0
  /// Literal sets (one per field, operation and case folding of `contains`, `startswith`, `endswith`).
  public var literalSets = 0
  /// Patterns by how they are evaluated (Hyperscan exact, confirmed, prefilter, PCRE2 only).
  public var evaluation: [PatternEvaluation: Int] = [:]
  /// Databases loaded from the on-disk cache, and built because it had none (or a damaged one).
  public var cacheHits: UInt64 = 0
  public var cacheMisses: UInt64 = 0
  public var cacheWriteFailures: UInt64 = 0
  /// Building (or loading) them all; of which, the pattern sets' steps and the literal sets.
  public var duration: Swift.Duration = .zero
  public var phases = PatternSet.Phases()
  public var literalDuration: Swift.Duration = .zero
  /// The pattern sets' Hyperscan databases, in bytes.
  public var databaseBytes = 0
}

extension RuleSet {
  /// The directory under `state_dir` where compiled pattern databases are kept.
  public static func patternCacheDirectory(stateDirectory: String) -> String {
    (stateDirectory as NSString).appendingPathComponent("patterns")
  }

  /// Builds the rules' pattern sets now (the loader's thread calls this, so that the pipeline never
  /// compiles them), with the database cache under `stateDirectory/patterns` when one is given.
  /// An engine given a set not prepared builds them itself.
  @discardableResult
  public func preparePatterns(stateDirectory: String?) -> PatternPreparation {
    var total = PatternPreparation()
    for index in patternIndexes {
      let outcome = index.prepare(cacheDirectory: stateDirectory.map(Self.patternCacheDirectory))
      total.fields += outcome.fields
      total.patterns += outcome.patterns
      total.literalSets += outcome.literalSets
      for (kind, count) in outcome.evaluation { total.evaluation[kind, default: 0] += count }
      total.cacheHits &+= outcome.cacheHits
      total.cacheMisses &+= outcome.cacheMisses
      total.cacheWriteFailures &+= outcome.cacheWriteFailures
      total.duration += outcome.duration
      total.phases += outcome.phases
      total.literalDuration += outcome.literalDuration
      total.databaseBytes += outcome.databaseBytes
    }
    return total
  }

  /// The distinct indexes of the rules (one per load; a set assembled from several loads has more).
  var patternIndexes: [RulePatternIndex] {
    var seen: Set<ObjectIdentifier> = []
    return rules.compactMap(\.patternIndex).filter { seen.insert(ObjectIdentifier($0)).inserted }
  }
}

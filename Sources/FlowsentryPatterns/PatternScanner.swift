/// One thread's (or one caller's) means to scan subjects with a ``PatternSet``: its own Hyperscan
/// scratch and PCRE2 match data. Not thread-safe; make one per thread with ``PatternSet/makeScanner()``.
public final class PatternScanner {
  public let set: PatternSet
  private let scan: HyperscanScan
  private let state = PCRE2MatchState()
  private var matched: [Int] = []
  /// Per pattern: subjects on which PCRE2 stopped at a limit (each counted as no match, as
  /// PCRE2Regex counts them). Only subjects PCRE2 evaluated count: see docs/PATTERNS.md.
  public private(set) var limitHits: [UInt64]
  /// The ids (ascending) PCRE2 stopped at a limit on the last subject ``matches(_:)`` was given:
  /// a caller that counts limit hits its own way (the rule engine, per rule) reads them here.
  public private(set) var lastLimitHits: [Int] = []
  /// Hyperscan matches PCRE2 was asked to confirm, and how many it turned down.
  public private(set) var confirmations: UInt64 = 0
  public private(set) var rejectedCandidates: UInt64 = 0
  /// Subjects Hyperscan could not scan (no scratch memory, or a scan error): PCRE2 evaluated every
  /// pattern on them instead.
  public var scanFailures: UInt64 { scan.failures }

  init(_ set: PatternSet) {
    self.set = set
    scan = HyperscanScan(database: set.database, capacity: set.patterns.count)
    limitHits = [UInt64](repeating: 0, count: set.patterns.count)
    matched.reserveCapacity(16)
  }

  /// The ids (ascending) of the patterns PCRE2 matches in `subject`. A subject that is not valid
  /// UTF-8 matches none: PCRE2 in UTF mode refuses it.
  public func matches(_ subject: UnsafeRawBufferPointer) -> [Int] {
    matched.removeAll(keepingCapacity: true)
    if !lastLimitHits.isEmpty { lastLimitHits.removeAll(keepingCapacity: true) }
    var ascii = true
    for byte in subject where byte >= 0x80 {
      ascii = false
      break
    }
    if !ascii, String(validating: subject, as: UTF8.self) == nil { return [] }
    if let database = set.database {
      if scan.scan(database, subject) {
        for slot in 0..<scan.count {
          let id = Int(scan.ids[slot])
          if !ascii && set.unicodeSensitive[id] { continue }
          if set.evaluation[id] == .exact {
            matched.append(id)
          } else {
            confirmations += 1
            if evaluate(id, subject) { matched.append(id) } else { rejectedCandidates += 1 }
          }
        }
      } else {
        for id in set.patterns.indices where set.evaluation[id] != .pcre2Only && (ascii || !set.unicodeSensitive[id]) {
          if evaluate(id, subject) { matched.append(id) }
        }
      }
      if !ascii {
        for id in set.nonASCIIEvaluated where evaluate(id, subject) { matched.append(id) }
      }
    }
    for id in set.alwaysEvaluated where evaluate(id, subject) { matched.append(id) }
    matched.sort()
    if lastLimitHits.count > 1 { lastLimitHits.sort() }
    return matched
  }

  public func matches(_ subject: String) -> [Int] {
    var subject = subject
    return subject.withUTF8 { matches(UnsafeRawBufferPointer($0)) }
  }

  public func matches(_ subject: [UInt8]) -> [Int] {
    subject.withUnsafeBytes { matches($0) }
  }

  private func evaluate(_ id: Int, _ subject: UnsafeRawBufferPointer) -> Bool {
    switch state.match(set.programs[id], subject) {
    case .match: return true
    case .noMatch: return false
    case .limitHit:
      limitHits[id] += 1
      lastLimitHits.append(id)
      return false
    }
  }
}

/// One thread's (or one caller's) means to scan subjects with a ``PatternSet``: its own Hyperscan
/// scratch and PCRE2 match data. Not thread-safe; make one per thread with ``PatternSet/makeScanner()``.
///
/// ``scan(_:)`` allocates nothing: its answers are kept in buffers sized for every pattern when the
/// scanner is made, and read through ``matchedIDs`` and ``limitedIDs`` until the next scan. Its
/// state lives behind a pointer, so a scan touches no class property (each such access is checked
/// for exclusivity at run time).
public final class PatternScanner {
  struct State {
    /// The ids matched by the last subject, in the order found, and the ids a PCRE2 limit stopped.
    var matched: UnsafeMutablePointer<Int32>
    var matchedCount = 0
    var limited: UnsafeMutablePointer<Int32>
    var limitedCount = 0
    var limitHits: UnsafeMutablePointer<UInt64>
    var confirmations: UInt64 = 0
    var rejectedCandidates: UInt64 = 0
  }

  public let set: PatternSet
  private let scan: HyperscanScan
  private let pcre2 = PCRE2MatchState()
  private let state: UnsafeMutablePointer<State>
  /// Per pattern, how its Hyperscan match is taken (``PatternSet/evaluation`` and its Unicode sensitivity).
  private let actions: UnsafeMutablePointer<Action>

  enum Action: UInt8 {
    /// Hyperscan's match is the answer, on any subject.
    case accept
    /// PCRE2 confirms each Hyperscan match.
    case confirm
    /// On an ASCII subject as `accept`, beyond ASCII PCRE2 evaluates it instead (Hyperscan's match is ignored).
    case acceptOnASCII
    case confirmOnASCII
  }

  init(_ set: PatternSet) {
    self.set = set
    let count = set.patterns.count
    scan = HyperscanScan(databases: set.databases, capacity: count)
    state = .allocate(capacity: 1)
    let limitHits = UnsafeMutablePointer<UInt64>.allocate(capacity: max(1, count))
    limitHits.initialize(repeating: 0, count: max(1, count))
    state.initialize(
      to: State(
        matched: .allocate(capacity: max(1, count)), limited: .allocate(capacity: max(1, count)), limitHits: limitHits))
    actions = .allocate(capacity: max(1, count))
    for id in 0..<count {
      let exact = set.evaluation[id] == .exact
      actions[id] =
        set.unicodeSensitive[id] ? (exact ? .acceptOnASCII : .confirmOnASCII) : (exact ? .accept : .confirm)
    }
  }

  deinit {
    state.pointee.matched.deallocate()
    state.pointee.limited.deallocate()
    state.pointee.limitHits.deallocate()
    state.deallocate()
    actions.deallocate()
  }

  /// The ids of the patterns PCRE2 matches in the last subject scanned, in no particular order;
  /// valid until the next scan.
  public var matchedIDs: UnsafeBufferPointer<Int32> {
    UnsafeBufferPointer(start: state.pointee.matched, count: state.pointee.matchedCount)
  }

  /// The ids PCRE2 stopped at a limit on the last subject scanned, in no particular order (a caller
  /// that counts limit hits its own way, the rule engine per rule, reads them here).
  public var limitedIDs: UnsafeBufferPointer<Int32> {
    UnsafeBufferPointer(start: state.pointee.limited, count: state.pointee.limitedCount)
  }

  /// The ids (ascending) PCRE2 stopped at a limit on the last subject.
  public var lastLimitHits: [Int] { limitedIDs.map { Int($0) }.sorted() }
  /// Per pattern: subjects on which PCRE2 stopped at a limit (each counted as no match, as
  /// PCRE2Regex counts them). Only subjects PCRE2 evaluated count: see docs/PATTERNS.md.
  public var limitHits: [UInt64] {
    Array(UnsafeBufferPointer(start: state.pointee.limitHits, count: set.patterns.count))
  }
  /// Hyperscan matches PCRE2 was asked to confirm, and how many it turned down.
  public var confirmations: UInt64 { state.pointee.confirmations }
  public var rejectedCandidates: UInt64 { state.pointee.rejectedCandidates }
  /// Subjects Hyperscan could not scan (no scratch memory, or a scan error): PCRE2 evaluated every
  /// pattern on them instead.
  public var scanFailures: UInt64 { scan.failures }

  /// Tests every pattern on `subject`; the answers are then ``matchedIDs`` and ``limitedIDs``. A
  /// subject that is not valid UTF-8 matches none: PCRE2 in UTF mode refuses it.
  public func scan(_ subject: UnsafeRawBufferPointer) {
    state.pointee.matchedCount = 0
    state.pointee.limitedCount = 0
    var ascii = true
    for byte in subject where byte >= 0x80 {
      ascii = false
      break
    }
    if !ascii, String(validating: subject, as: UTF8.self) == nil { return }
    if !set.databases.isEmpty {
      if scan.scan(subject) {
        let ids = scan.ids
        for slot in 0..<scan.count {
          let id = Int(ids[slot])
          switch actions[id] {
          case .accept: found(id)
          case .confirm: confirm(id, subject)
          case .acceptOnASCII: if ascii { found(id) }
          case .confirmOnASCII: if ascii { confirm(id, subject) }
          }
        }
      } else {
        for id in set.patterns.indices where set.evaluation[id] != .pcre2Only && (ascii || !set.unicodeSensitive[id]) {
          evaluate(id, subject)
        }
      }
      if !ascii {
        for id in set.nonASCIIEvaluated { evaluate(id, subject) }
      }
    }
    for id in set.alwaysEvaluated { evaluate(id, subject) }
  }

  /// The ids (ascending) of the patterns PCRE2 matches in `subject`.
  public func matches(_ subject: UnsafeRawBufferPointer) -> [Int] {
    scan(subject)
    return matchedIDs.map { Int($0) }.sorted()
  }

  public func matches(_ subject: String) -> [Int] {
    var subject = subject
    return subject.withUTF8 { matches(UnsafeRawBufferPointer($0)) }
  }

  public func matches(_ subject: [UInt8]) -> [Int] {
    subject.withUnsafeBytes { matches($0) }
  }

  private func found(_ id: Int) {
    state.pointee.matched[state.pointee.matchedCount] = Int32(truncatingIfNeeded: id)
    state.pointee.matchedCount += 1
  }

  private func confirm(_ id: Int, _ subject: UnsafeRawBufferPointer) {
    state.pointee.confirmations += 1
    if !evaluate(id, subject) { state.pointee.rejectedCandidates += 1 }
  }

  @discardableResult
  private func evaluate(_ id: Int, _ subject: UnsafeRawBufferPointer) -> Bool {
    switch pcre2.match(set.programs[id], subject) {
    case .match:
      found(id)
      return true
    case .noMatch: return false
    case .limitHit:
      state.pointee.limitHits[id] += 1
      state.pointee.limited[state.pointee.limitedCount] = Int32(truncatingIfNeeded: id)
      state.pointee.limitedCount += 1
      return false
    }
  }
}

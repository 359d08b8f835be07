import CFlowsentryHyperscan
import FlowsentryCore
import Foundation

/// Many literal strings tested at once against a subject, for `contains`, `startswith`,
/// `endswith` (and equality) over a list. Semantics, the same as the rule engine's one-by-one
/// comparisons: a needle and a subject compare as UTF-8 bytes; `.ascii` case folding makes `A-Z`
/// equal `a-z` and nothing else (`É` and `é` stay different; no Unicode folding, no normalization).
/// An empty needle is contained in, starts and ends every subject, and equals only the empty one.
public final class LiteralSet: @unchecked Sendable {
  public enum Operation: Sendable { case contains, startsWith, endsWith, equals }
  public enum CaseFolding: Sendable { case none, ascii }

  public struct BuildError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { "literal set: \(message)" }
  }

  public let needles: [[UInt8]]
  public let operation: Operation
  public let caseFolding: CaseFolding
  let database: HyperscanDatabase?
  /// The anchored operations' needles, walked instead of scanned (no database then).
  let trie: AnchoredLiteralTrie?
  let emptyNeedles: [Int]
  /// The name of its cache file (`<key>.hsdb`) when it has a database and was built with a cache,
  /// so that pruning keeps the file the running set uses.
  public let cacheKey: String?
  /// Whether the database was loaded from the cache rather than compiled.
  public let loadedFromCache: Bool

  /// Whether the set scans with a Hyperscan database (`contains` over non-empty needles): only
  /// such a set has a compile worth caching, and a cache file.
  public var hasDatabase: Bool { database != nil }
  public var databaseBytes: Int { database?.byteSize ?? 0 }

  public convenience init(
    _ needles: [String], operation: Operation, caseFolding: CaseFolding = .none, cache: PatternDatabaseCache? = nil
  ) throws(BuildError) {
    try self.init(
      bytes: needles.map { Array($0.utf8) }, operation: operation, caseFolding: caseFolding, cache: cache)
  }

  /// Builds the set; with `cache`, a `contains` set's database is loaded from it when it holds one for
  /// the same needles, folding and library (compiling 200,000 needles takes over ten seconds, at
  /// every start and reload), and stored there when compiled.
  public init(
    bytes needles: [[UInt8]], operation: Operation, caseFolding: CaseFolding = .none,
    cache: PatternDatabaseCache? = nil
  ) throws(BuildError) {
    self.needles = needles
    self.operation = operation
    self.caseFolding = caseFolding
    emptyNeedles = needles.indices.filter { needles[$0].isEmpty }
    let members = needles.indices.filter { !needles[$0].isEmpty }
    guard !members.isEmpty else {
      database = nil
      trie = nil
      cacheKey = nil
      loadedFromCache = false
      return
    }
    if operation != .contains {
      trie = AnchoredLiteralTrie(needles: needles, members: members, operation: operation, caseFolding: caseFolding)
      database = nil
      cacheKey = nil
      loadedFromCache = false
      return
    }
    trie = nil
    // Byte mode (no HS_FLAG_UTF8): every needle byte as `\xHH`, so nothing in a needle is syntax,
    // and HS_FLAG_CASELESS folds ASCII letters only.
    let flags = UInt32(HS_FLAG_SINGLEMATCH) | (caseFolding == .ascii ? UInt32(HS_FLAG_CASELESS) : 0)
    let prefix = operation == .startsWith || operation == .equals ? "^" : ""
    let suffix = operation == .endsWith || operation == .equals ? "\\z" : ""
    let expressions = members.map { Array((prefix + Self.escaped(needles[$0]) + suffix).utf8) }
    let ids = members.map { UInt32($0) }
    let key = cache.map { _ in PatternDatabaseCache.literalKey(expressions: expressions, ids: ids, flags: flags) }
    cacheKey = key
    if let cache, let key, case .found(_, let databases) = cache.load(key: key, patternCount: members.count),
      databases.count == 1
    {
      database = databases[0]
      loadedFromCache = true
      return
    }
    loadedFromCache = false
    let compiled: HyperscanDatabase
    do {
      compiled = try HyperscanDatabase(
        expressions: expressions, flags: [UInt32](repeating: flags, count: members.count), ids: ids)
    } catch {
      throw BuildError(message: "\(error.message)" + (error.expression.map { " (needle \(members[$0]))" } ?? ""))
    }
    database = compiled
    // Every needle is evaluated by the database alone: the file says so, one byte each.
    cache?.store(
      key: key!, evaluation: [PatternEvaluation](repeating: .exact, count: members.count), databases: [compiled])
  }

  /// Builds several sets at once on up to `threads` threads of their own (Hyperscan's compiler is
  /// thread-safe; a rule set's literal sets are independent), each as ``init(bytes:operation:caseFolding:cache:)``.
  public static func build(
    _ requests: [(needles: [[UInt8]], operation: Operation, caseFolding: CaseFolding)], cache: PatternDatabaseCache?,
    threads: Int = ProcessInfo.processInfo.activeProcessorCount
  ) -> [Result<LiteralSet, BuildError>] {
    ParallelWork.map(jobs: requests.count, threads: threads) { job in
      let request = requests[job]
      return Result { () throws(BuildError) in
        try LiteralSet(
          bytes: request.needles, operation: request.operation, caseFolding: request.caseFolding, cache: cache)
      }
    }
  }

  public func makeScanner() -> LiteralScanner { LiteralScanner(self) }

  private static let hexDigits = Array("0123456789abcdef".utf8)

  private static func escaped(_ bytes: [UInt8]) -> String {
    var text: [UInt8] = []
    text.reserveCapacity(bytes.count * 4)
    for byte in bytes {
      text += [UInt8(ascii: "\\"), UInt8(ascii: "x"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xf)]]
    }
    return String(decoding: text, as: UTF8.self)
  }
}

/// One thread's scanner for a ``LiteralSet`` (its own Hyperscan scratch). Not thread-safe.
public final class LiteralScanner {
  public let set: LiteralSet
  private let scan: HyperscanScan
  private let trie: AnchoredLiteralTrie?
  private var matched: [Int] = []
  /// Subjects Hyperscan could not scan: compared one needle at a time instead.
  public var scanFailures: UInt64 { scan.failures }

  init(_ set: LiteralSet) {
    self.set = set
    scan = HyperscanScan(databases: set.database.map { [$0] } ?? [], capacity: set.needles.count)
    trie = set.trie
  }

  /// The ids (ascending) of the needles that the operation accepts for `subject`.
  public func matches(_ subject: UnsafeRawBufferPointer) -> [Int] {
    matched.removeAll(keepingCapacity: true)
    forEachMatch(subject) { matched.append($0) }
    matched.sort()
    return matched
  }

  /// Calls `body` with the id of each needle the operation accepts for `subject`, each once, in no
  /// particular order: what ``matches(_:)`` returns, without building the array.
  public func forEachMatch(_ subject: UnsafeRawBufferPointer, _ body: (Int) -> Void) {
    for id in set.emptyNeedles where set.operation != .equals || subject.isEmpty { body(id) }
    if let trie {
      trie.walk(subject, body)
    } else if set.database != nil {
      if scan.scan(subject) {
        for slot in 0..<scan.count { body(Int(scan.ids[slot])) }
      } else {
        for id in set.needles.indices where !set.needles[id].isEmpty && Self.test(set, set.needles[id], subject) {
          body(id)
        }
      }
    }
  }

  public func matches(_ subject: String) -> [Int] {
    var subject = subject
    return subject.withUTF8 { matches(UnsafeRawBufferPointer($0)) }
  }

  public func matches(_ subject: [UInt8]) -> [Int] { subject.withUnsafeBytes { matches($0) } }

  /// The definition the database implements, one needle at a time.
  static func test(_ set: LiteralSet, _ needle: [UInt8], _ subject: UnsafeRawBufferPointer) -> Bool {
    let fold: (UInt8) -> UInt8 =
      set.caseFolding == .ascii ? ASCIICaseFolding.lowercased : { $0 }
    func equal(at start: Int) -> Bool {
      for index in needle.indices where fold(needle[index]) != fold(subject[start + index]) { return false }
      return true
    }
    guard needle.count <= subject.count else { return false }
    switch set.operation {
    case .startsWith: return equal(at: 0)
    case .endsWith: return equal(at: subject.count - needle.count)
    case .equals: return needle.count == subject.count && equal(at: 0)
    case .contains: return (0...(subject.count - needle.count)).contains { equal(at: $0) }
    }
  }
}

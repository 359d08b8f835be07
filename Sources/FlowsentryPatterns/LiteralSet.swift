import CFlowsentryHyperscan
import FlowsentryCore

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

  public convenience init(_ needles: [String], operation: Operation, caseFolding: CaseFolding = .none)
    throws(BuildError)
  {
    try self.init(bytes: needles.map { Array($0.utf8) }, operation: operation, caseFolding: caseFolding)
  }

  public init(bytes needles: [[UInt8]], operation: Operation, caseFolding: CaseFolding = .none) throws(BuildError) {
    self.needles = needles
    self.operation = operation
    self.caseFolding = caseFolding
    emptyNeedles = needles.indices.filter { needles[$0].isEmpty }
    let members = needles.indices.filter { !needles[$0].isEmpty }
    guard !members.isEmpty else {
      database = nil
      trie = nil
      return
    }
    if operation != .contains {
      trie = AnchoredLiteralTrie(needles: needles, members: members, operation: operation, caseFolding: caseFolding)
      database = nil
      return
    }
    trie = nil
    // Byte mode (no HS_FLAG_UTF8): every needle byte as `\xHH`, so nothing in a needle is syntax,
    // and HS_FLAG_CASELESS folds ASCII letters only.
    let flags = UInt32(HS_FLAG_SINGLEMATCH) | (caseFolding == .ascii ? UInt32(HS_FLAG_CASELESS) : 0)
    let prefix = operation == .startsWith || operation == .equals ? "^" : ""
    let suffix = operation == .endsWith || operation == .equals ? "\\z" : ""
    do {
      database = try HyperscanDatabase(
        expressions: members.map { Array((prefix + Self.escaped(needles[$0]) + suffix).utf8) },
        flags: [UInt32](repeating: flags, count: members.count),
        ids: members.map { UInt32($0) })
    } catch {
      throw BuildError(message: "\(error.message)" + (error.expression.map { " (needle \(members[$0]))" } ?? ""))
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

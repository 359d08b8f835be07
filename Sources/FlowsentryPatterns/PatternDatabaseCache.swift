import Crypto
import FlowsentryCore
import Foundation
import Synchronization

/// Compiled pattern databases on disk, so a restart loads instead of compiling. A file holds a set's
/// databases, is named by the SHA-256 of everything they depend on (Hyperscan's version, the
/// platform it tunes for, every pattern and flag, the parts of `patternsPerDatabase`; not how a slow
/// part was cut, which depends on timings and is whatever the file holds) and carries a
/// SHA-256 of its own contents: a damaged or foreign file is ignored, counted, and replaced by a
/// rebuilt one.
public final class PatternDatabaseCache: Sendable {
  public struct Counters: Sendable, Equatable {
    public var hits: UInt64 = 0
    public var misses: UInt64 = 0
    /// Files that failed their checksum, their layout or Hyperscan's own checks, or could not be read.
    public var damaged: UInt64 = 0
    /// Databases that could not be written (the set still works; the next start compiles again).
    public var writeFailures: UInt64 = 0
  }

  enum Lookup {
    case found([PatternEvaluation], [HyperscanDatabase])
    case missing
    case damaged
  }

  public let directory: URL
  private let counters = Mutex(Counters())
  /// The last write that failed, as `path: error`, for the monitor's warning (a count alone does not
  /// say that `state_dir/patterns` is a file, or read-only, and every start then compiles).
  private let writeFailure = Mutex<String?>(nil)
  /// A cache file larger than this is damage, not a database (10,000 patterns take a few MiB).
  public static let maximumFileBytes = 1 << 30
  private static let magic = Array("FSPATDB2".utf8)

  public init(directory: URL) {
    self.directory = directory
  }

  public var currentCounters: Counters { counters.withLock { $0 } }

  /// The last write that failed (`path: error`), nil when none did.
  public var lastWriteFailure: String? { writeFailure.withLock { $0 } }

  static func key(for patterns: [PatternSpec], patternsPerDatabase: Int) -> String {
    var hash = SHA256()
    func add(_ text: String) {
      var length = UInt64(text.utf8.count).littleEndian
      withUnsafeBytes(of: &length) { hash.update(bufferPointer: $0) }
      hash.update(data: Array(text.utf8))
    }
    add("flowsentry-patterns-5")
    add("patterns per database \(patternsPerDatabase)")
    add(HyperscanDatabase.version)
    add(HyperscanDatabase.platform)
    #if arch(x86_64)
      add("x86_64")
    #else
      add("other")
    #endif
    for spec in patterns {
      add(spec.pattern)
      add(
        String(
          PatternSet.flags(spec, PatternSyntax(spec.pattern, caseInsensitive: spec.caseInsensitive), prefilter: false)))
    }
    return hash.finalize().map { String($0, radix: 16).leftPadded(to: 2) }.joined()
  }

  /// The key of a literal set's database: its expressions, ids and flags, under a name of its own
  /// so that no regex set shares it.
  static func literalKey(expressions: [[UInt8]], ids: [UInt32], flags: UInt32) -> String {
    var hash = SHA256()
    func add(_ bytes: [UInt8]) {
      var length = UInt64(bytes.count).littleEndian
      withUnsafeBytes(of: &length) { hash.update(bufferPointer: $0) }
      hash.update(data: bytes)
    }
    add(Array("flowsentry-literals-1".utf8))
    add(Array(HyperscanDatabase.version.utf8))
    add(Array(HyperscanDatabase.platform.utf8))
    #if arch(x86_64)
      add(Array("x86_64".utf8))
    #else
      add(Array("other".utf8))
    #endif
    add(Array(String(flags).utf8))
    for (expression, id) in zip(expressions, ids) {
      add(expression)
      add(Array(String(id).utf8))
    }
    return hash.finalize().map { String($0, radix: 16).leftPadded(to: 2) }.joined()
  }

  func fileURL(key: String) -> URL { directory.appendingPathComponent("\(key).hsdb") }

  func load(key: String, patternCount: Int) -> Lookup {
    let url = fileURL(key: key)
    guard FileManager.default.fileExists(atPath: url.path) else {
      counters.withLock { $0.misses += 1 }
      return .missing
    }
    guard let found = Self.decode(try? Data(contentsOf: url), patternCount: patternCount) else {
      counters.withLock { $0.damaged += 1 }
      return .damaged
    }
    counters.withLock { $0.hits += 1 }
    return found
  }

  /// Layout: magic, SHA-256 of the rest, pattern count (UInt32 LE), one evaluation byte per
  /// pattern, the database count (UInt32 LE), then each database as its length (UInt64 LE) and
  /// Hyperscan's serialized bytes.
  private static func decode(_ data: Data?, patternCount: Int) -> Lookup? {
    guard let data, data.count <= maximumFileBytes, data.count >= magic.count + 32 + 8 + patternCount else {
      return nil
    }
    let bytes = [UInt8](data)
    guard Array(bytes[0..<magic.count]) == magic else { return nil }
    let body = bytes[(magic.count + 32)...]
    guard Array(SHA256.hash(data: body)) == Array(bytes[magic.count..<(magic.count + 32)]) else { return nil }
    var offset = body.startIndex
    func integer(_ width: Int) -> Int? {
      guard body.endIndex - offset >= width else { return nil }
      defer { offset += width }
      let value = body[offset..<(offset + width)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
      return value <= UInt64(maximumFileBytes) ? Int(value) : nil
    }
    guard integer(4) == patternCount, body.endIndex - offset >= patternCount else { return nil }
    var evaluation: [PatternEvaluation] = []
    for byte in body[offset..<(offset + patternCount)] {
      guard let kind = PatternEvaluation(rawValue: byte) else { return nil }
      evaluation.append(kind)
    }
    offset += patternCount
    guard let count = integer(4) else { return nil }
    var databases: [HyperscanDatabase] = []
    for _ in 0..<count {
      guard let length = integer(8), length > 0, body.endIndex - offset >= length,
        let database = try? HyperscanDatabase(serialized: Array(body[offset..<(offset + length)]))
      else { return nil }
      databases.append(database)
      offset += length
    }
    guard offset == body.endIndex, evaluation.contains(where: { $0 != .pcre2Only }) == !databases.isEmpty else {
      return nil
    }
    return .found(evaluation, databases)
  }

  func store(key: String, evaluation: [PatternEvaluation], databases: [HyperscanDatabase]) {
    var body: [UInt8] = []
    func append<Integer: FixedWidthInteger>(_ value: Integer) {
      withUnsafeBytes(of: value.littleEndian) { body.append(contentsOf: $0) }
    }
    append(UInt32(evaluation.count))
    body.append(contentsOf: evaluation.map(\.rawValue))
    append(UInt32(databases.count))
    for database in databases {
      guard let serialized = database.serialized() else {
        counters.withLock { $0.writeFailures += 1 }
        writeFailure.withLock { $0 = "\(fileURL(key: key).path): Hyperscan could not serialize a database" }
        return
      }
      append(UInt64(serialized.count))
      body.append(contentsOf: serialized)
    }
    let file = Self.magic + Array(SHA256.hash(data: body)) + body
    // Replaced whole and fsynced (a temporary name of its own, so concurrent writers do not
    // collide): a reader never sees half a file, and a crash leaves the old one or the new one.
    do {
      try AtomicFile.write(file, to: fileURL(key: key).path, permissions: 0o600, creatingDirectories: true)
    } catch {
      counters.withLock { $0.writeFailures += 1 }
      writeFailure.withLock { $0 = "\(fileURL(key: key).path): \(error)" }
    }
  }
}

extension String {
  fileprivate func leftPadded(to width: Int) -> String {
    count >= width ? self : String(repeating: "0", count: width - count) + self
  }
}

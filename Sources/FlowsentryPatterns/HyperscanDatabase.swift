import CFlowsentryHyperscan

#if canImport(Glibc)
  import Glibc
#endif

/// A Hyperscan block-mode database: read-only while scanning, shared by every thread (a scratch,
/// ``HyperscanScan``, belongs to one thread).
final class HyperscanDatabase: @unchecked Sendable {
  struct Failure: Error {
    /// The expression Hyperscan refused (its position in the compiled list), or nil for the whole database.
    var expression: Int?
    var message: String
  }

  let database: OpaquePointer

  /// The library's version string, part of every cache key.
  static let version = String(cString: hs_version())

  /// The platform Hyperscan tunes for (CPU features), part of every cache key: a database is only
  /// valid on the platform it was compiled for.
  static let platform: String = {
    var info = hs_platform_info_t()
    guard hs_populate_platform(&info) == HS_SUCCESS else { return "unknown" }
    return "tune=\(info.tune) features=\(info.cpu_features)"
  }()

  /// Compiles `expressions` (each with its flags; ids are the caller's) into one database.
  init(expressions: [[UInt8]], flags: [UInt32], ids: [UInt32]) throws(Failure) {
    precondition(expressions.count == flags.count && flags.count == ids.count)
    let strings = expressions.map { bytes -> UnsafeMutablePointer<CChar> in
      let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
      bytes.withUnsafeBytes { source in
        if let base = source.baseAddress {
          UnsafeMutableRawPointer(copy).copyMemory(from: base, byteCount: source.count)
        }
      }
      copy[bytes.count] = 0
      return copy
    }
    defer { strings.forEach { $0.deallocate() } }
    var compiled: OpaquePointer?
    var error: UnsafeMutablePointer<hs_compile_error_t>?
    let status = strings.map { UnsafePointer<CChar>?($0) }.withUnsafeBufferPointer { pointers in
      hs_compile_multi(
        pointers.baseAddress, flags, ids, UInt32(expressions.count), UInt32(HS_MODE_BLOCK), nil, &compiled, &error)
    }
    guard status == HS_SUCCESS, let compiled else {
      throw Self.failure(status, error)
    }
    database = compiled
  }

  /// Rebuilds a database from ``serialized()`` bytes; Hyperscan checks the version, platform and checksum.
  init(serialized bytes: [UInt8]) throws(Failure) {
    var loaded: OpaquePointer?
    let status = bytes.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { hs_deserialize_database($0.baseAddress, $0.count, &loaded) }
    }
    guard status == HS_SUCCESS, let loaded else {
      throw Failure(expression: nil, message: "hs_deserialize_database failed (\(status))")
    }
    database = loaded
  }

  func serialized() -> [UInt8]? {
    var bytes: UnsafeMutablePointer<CChar>?
    var length = 0
    guard hs_serialize_database(database, &bytes, &length) == HS_SUCCESS, let bytes else { return nil }
    defer { free(bytes) }
    return bytes.withMemoryRebound(to: UInt8.self, capacity: length) {
      Array(UnsafeBufferPointer(start: $0, count: length))
    }
  }

  var byteSize: Int {
    var size = 0
    return hs_database_size(database, &size) == HS_SUCCESS ? size : 0
  }

  /// Parses one expression without building a database: nil when Hyperscan accepts it with these
  /// flags (then its minimum match width), the message otherwise.
  static func analyze(_ expression: [UInt8], flags: UInt32) -> Result<UInt32, Failure> {
    var info: UnsafeMutablePointer<hs_expr_info_t>?
    var error: UnsafeMutablePointer<hs_compile_error_t>?
    let status = (expression + [0]).withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { hs_expression_info($0.baseAddress, flags, &info, &error) }
    }
    guard status == HS_SUCCESS, let info else { return .failure(failure(status, error)) }
    defer { free(info) }
    return .success(info.pointee.min_width)
  }

  private static func failure(_ status: hs_error_t, _ error: UnsafeMutablePointer<hs_compile_error_t>?) -> Failure {
    guard let error else { return Failure(expression: nil, message: "Hyperscan error \(status)") }
    defer { hs_free_compile_error(error) }
    let message = error.pointee.message.map { String(cString: $0) } ?? "Hyperscan error \(status)"
    return Failure(expression: error.pointee.expression >= 0 ? Int(error.pointee.expression) : nil, message: message)
  }

  deinit { hs_free_database(database) }
}

/// One thread's means to scan a subject with several databases in turn (one scratch sized for all of
/// them), and the ids they reported, in a buffer sized for every pattern: with
/// `HS_FLAG_SINGLEMATCH` a database reports an id at most once and no id is in two databases, so the
/// buffer cannot overflow (the callback checks anyway). The ids and their count live behind a
/// pointer, the callback's context, so that scanning touches no class property.
final class HyperscanScan {
  struct Found {
    var ids: UnsafeMutablePointer<UInt32>
    var count: Int
    var capacity: Int
  }

  private let databases: [HyperscanDatabase]
  private let scratch: OpaquePointer?
  private let found: UnsafeMutablePointer<Found>
  /// Scans that Hyperscan failed (no scratch, or a scan error): the caller evaluates those subjects with PCRE2.
  private(set) var failures: UInt64 = 0

  var ids: UnsafeMutablePointer<UInt32> { found.pointee.ids }
  var count: Int { found.pointee.count }

  init(databases: [HyperscanDatabase], capacity: Int) {
    self.databases = databases
    var scratch: OpaquePointer?
    for database in databases where hs_alloc_scratch(database.database, &scratch) != HS_SUCCESS {
      if let allocated = scratch { hs_free_scratch(allocated) }
      scratch = nil
      break
    }
    self.scratch = scratch
    found = .allocate(capacity: 1)
    found.initialize(to: Found(ids: .allocate(capacity: max(1, capacity)), count: 0, capacity: max(1, capacity)))
  }

  /// Scans `subject` with every database; false when Hyperscan could not (then none is reported).
  func scan(_ subject: UnsafeRawBufferPointer) -> Bool {
    found.pointee.count = 0
    guard !databases.isEmpty else { return true }
    guard let scratch, subject.count <= Int(UInt32.max) else {
      failures += 1
      return false
    }
    let base = subject.baseAddress?.assumingMemoryBound(to: CChar.self)
    for database in databases {
      let status = hs_scan(database.database, base, UInt32(subject.count), 0, scratch, onMatch, found)
      guard status == HS_SUCCESS else {
        failures += 1
        found.pointee.count = 0
        return false
      }
    }
    return true
  }

  deinit {
    if let scratch { hs_free_scratch(scratch) }
    found.pointee.ids.deallocate()
    found.deallocate()
  }
}

private func onMatch(
  id: UInt32, from: UInt64, to: UInt64, flags: UInt32, context: UnsafeMutableRawPointer?
) -> Int32 {
  let found = context!.assumingMemoryBound(to: HyperscanScan.Found.self)
  guard found.pointee.count < found.pointee.capacity else { return 1 }
  found.pointee.ids[found.pointee.count] = id
  found.pointee.count += 1
  return 0
}

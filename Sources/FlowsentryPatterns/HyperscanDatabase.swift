import CFlowsentryHyperscan

#if canImport(Glibc)
  import Glibc
#endif

/// A Hyperscan block-mode database and a prototype scratch that each scanner clones: the database
/// is read-only while scanning (shared by every thread), a scratch belongs to one thread.
final class HyperscanDatabase: @unchecked Sendable {
  struct Failure: Error {
    /// The expression Hyperscan refused (its position in the compiled list), or nil for the whole database.
    var expression: Int?
    var message: String
  }

  let database: OpaquePointer
  private let prototypeScratch: OpaquePointer

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
    prototypeScratch = try Self.allocateScratch(compiled)
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
    do {
      prototypeScratch = try Self.allocateScratch(loaded)
    } catch {
      hs_free_database(loaded)
      throw error
    }
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

  /// A scratch for one thread; nil only when Hyperscan is out of memory.
  func makeScratch() -> OpaquePointer? {
    var scratch: OpaquePointer?
    return hs_clone_scratch(prototypeScratch, &scratch) == HS_SUCCESS ? scratch : nil
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

  private static func allocateScratch(_ database: OpaquePointer) throws(Failure) -> OpaquePointer {
    var scratch: OpaquePointer?
    let status = hs_alloc_scratch(database, &scratch)
    guard status == HS_SUCCESS, let scratch else {
      throw Failure(expression: nil, message: "hs_alloc_scratch failed (\(status))")
    }
    return scratch
  }

  deinit {
    hs_free_scratch(prototypeScratch)
    hs_free_database(database)
  }
}

/// The ids one scan reported, in a buffer sized for every pattern: with `HS_FLAG_SINGLEMATCH` an
/// id is reported at most once, so the buffer cannot overflow (and the callback checks anyway).
final class HyperscanScan {
  private let scratch: OpaquePointer?
  private(set) var ids: UnsafeMutablePointer<UInt32>
  private(set) var count = 0
  private let capacity: Int
  /// Scans that Hyperscan failed (no scratch, or a scan error): the caller evaluates those subjects with PCRE2.
  private(set) var failures: UInt64 = 0

  init(database: HyperscanDatabase?, capacity: Int) {
    scratch = database?.makeScratch()
    self.capacity = max(1, capacity)
    ids = .allocate(capacity: self.capacity)
  }

  /// Scans `subject` with `database`; false when Hyperscan could not scan it (then nothing was reported).
  func scan(_ database: HyperscanDatabase, _ subject: UnsafeRawBufferPointer) -> Bool {
    count = 0
    guard let scratch, subject.count <= Int(UInt32.max) else {
      failures += 1
      return false
    }
    let base = subject.baseAddress?.assumingMemoryBound(to: CChar.self)
    let status = hs_scan(
      database.database, base, UInt32(subject.count), 0, scratch,
      { id, _, _, _, context in
        let scan = Unmanaged<HyperscanScan>.fromOpaque(context!).takeUnretainedValue()
        guard scan.count < scan.capacity else { return 1 }
        scan.ids[scan.count] = id
        scan.count += 1
        return 0
      }, Unmanaged.passUnretained(self).toOpaque())
    guard status == HS_SUCCESS else {
      failures += 1
      count = 0
      return false
    }
    return true
  }

  deinit {
    if let scratch { hs_free_scratch(scratch) }
    ids.deallocate()
  }
}

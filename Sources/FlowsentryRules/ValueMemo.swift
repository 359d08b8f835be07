import Foundation

/// A bounded memo of answers that are a pure function of a value's bytes: a field scan's matched
/// patterns or literal tests, an intel term's verdict. Traffic repeats its names and addresses, and
/// a hit skips Hyperscan, the literal trie or an 11M-indicator table for a value seen before.
///
/// Direct-mapped: `entries` slots of 80 bytes (a 64-bit tag, a 64-bit answer and up to 64 key
/// bytes), 320 KiB at the default 4,096, allocated once; a new value replaces the slot's old one (an
/// eviction). Values longer than 64 bytes are never kept (counted as uncacheable), nor are answers
/// the caller marks as not pure (a scan a PCRE2 limit stopped). Keys are compared byte for byte, so a
/// hit returns exactly what the computation returned for those bytes. Not thread-safe, as the scans
/// that own it: one engine evaluates a rule set at a time; a reload compiles new ones, empty.
final class ValueMemo: @unchecked Sendable {
  /// What the memo did, for tests and the engine's counters.
  struct Counters: Equatable, Sendable {
    var hits: UInt64 = 0
    var misses: UInt64 = 0
    /// Misses whose answer replaced another value's.
    var evictions: UInt64 = 0
    /// Values too long to keep, or answers the caller said were not a function of the value alone.
    var uncacheable: UInt64 = 0

    static func += (total: inout Counters, other: Counters) {
      total.hits &+= other.hits
      total.misses &+= other.misses
      total.evictions &+= other.evictions
      total.uncacheable &+= other.uncacheable
    }
  }

  static let defaultEntries = 4_096
  static let maximumKeyBytes = 64
  private static let stride = 16 + maximumKeyBytes

  let entries: Int
  private let mask: Int
  private let slots: UnsafeMutableRawPointer
  /// Behind a pointer, so that counting is no checked access to a class property.
  private let tally: UnsafeMutablePointer<Counters>

  /// `entries` is rounded up to a power of two, at least 1.
  init(entries: Int = ValueMemo.defaultEntries) {
    var size = 1
    while size < entries { size <<= 1 }
    self.entries = size
    mask = size - 1
    slots = .allocate(byteCount: size * Self.stride, alignment: 16)
    slots.initializeMemory(as: UInt8.self, repeating: 0, count: size * Self.stride)
    tally = .allocate(capacity: 1)
    tally.initialize(to: Counters())
  }

  deinit {
    slots.deallocate()
    tally.deinitialize(count: 1)
    tally.deallocate()
  }

  var counters: Counters { tally.pointee }

  /// The answer for `key`: the one kept for these bytes, else `compute()`'s, kept when it says the
  /// answer is pure (`memoizable`) and the key fits.
  @inline(__always)
  func answer(
    _ key: UnsafeRawBufferPointer, compute: () -> (answer: UInt64, memoizable: Bool)
  ) -> UInt64 {
    let count = key.count
    guard count <= Self.maximumKeyBytes else {
      tally.pointee.uncacheable &+= 1
      return compute().answer
    }
    let hash = Self.hash(key)
    // The tag's top bit is set, so that an empty slot (tag 0) never matches; its low byte is the length.
    let tag = (hash | (1 << 63)) & ~0xFF | UInt64(count)
    let slot = slots + (Int(truncatingIfNeeded: hash >> 17) & mask) * Self.stride
    let stored = slot.load(as: UInt64.self)
    if stored == tag, count == 0 || memcmp(slot + 16, key.baseAddress!, count) == 0 {
      tally.pointee.hits &+= 1
      return slot.load(fromByteOffset: 8, as: UInt64.self)
    }
    tally.pointee.misses &+= 1
    let computed = compute()
    guard computed.memoizable else {
      tally.pointee.uncacheable &+= 1
      return computed.answer
    }
    if stored != 0 { tally.pointee.evictions &+= 1 }
    slot.storeBytes(of: tag, as: UInt64.self)
    slot.storeBytes(of: computed.answer, toByteOffset: 8, as: UInt64.self)
    if count > 0 { (slot + 16).copyMemory(from: key.baseAddress!, byteCount: count) }
    return computed.answer
  }

  /// A 64-bit hash of the bytes, eight at a time (the memo's slot and tag come from it).
  @inline(__always)
  static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(key.count)
    var offset = 0
    while offset + 8 <= key.count {
      hash = mix(hash ^ key.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
      offset += 8
    }
    if offset < key.count {
      var tail: UInt64 = 0
      for index in offset..<key.count { tail = tail << 8 | UInt64(key[index]) }
      hash = mix(hash ^ tail)
    }
    return mix(hash)
  }

  @inline(__always)
  private static func mix(_ value: UInt64) -> UInt64 {
    var value = value &* 0xBF58_476D_1CE4_E5B9
    value ^= value >> 31
    return value &* 0x94D0_49BB_1331_11EB
  }
}

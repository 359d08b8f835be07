import FlowsentryCore

/// A fast keyed hash of byte strings (wyhash-style multiply-fold), seeded per set at random so that
/// a hostile feed or hostile query names cannot aim at one slot. Not cryptographic; the tables that
/// use it verify every candidate against the stored bytes, so a collision costs time, never a wrong answer.
struct KeyedHash: Sendable {
  private let seedA: UInt64
  private let seedB: UInt64

  init(seed: UInt64 = UInt64.random(in: .min ... .max)) {
    seedA = seed ^ 0xa076_1d64_78bd_642f
    seedB = (seed &* 0x9e37_79b9_7f4a_7c15) ^ 0xe703_7ed1_a0b4_28db
  }

  var initialState: UInt64 { seedB }

  @inline(__always)
  static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
    let product = a.multipliedFullWidth(by: b)
    return product.high ^ product.low
  }

  /// Folds `count` bytes at `start` into `state`; `lowercasing` maps ASCII A–Z to a–z first (eight
  /// bytes at a time), so a name hashes the same in any case.
  @inline(__always)
  func combine(_ state: UInt64, _ start: UnsafeRawPointer, count: Int, lowercasing: Bool) -> UInt64 {
    var state = state ^ UInt64(truncatingIfNeeded: count)
    var offset = 0
    while offset + 8 <= count {
      var word = UInt64(littleEndian: start.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
      if lowercasing { word = ASCIICaseFolding.lowercased(word: word) }
      state = Self.fold(word ^ seedA, state ^ 0x8ebc_6af0_9c88_c6e3)
      offset += 8
    }
    if offset < count {
      var word: UInt64 = 0
      var shift: UInt64 = 0
      while offset < count {
        word |= UInt64(start.load(fromByteOffset: offset, as: UInt8.self)) << shift
        shift += 8
        offset += 1
      }
      if lowercasing { word = ASCIICaseFolding.lowercased(word: word) }
      state = Self.fold(word ^ seedA, state ^ 0x5899_65cc_7537_4cc3)
    }
    return Self.fold(state ^ seedB, 0x1d8e_4e27_c47d_124f)
  }
}

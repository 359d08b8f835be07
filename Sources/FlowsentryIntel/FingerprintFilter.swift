#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A blocked Bloom filter over a table's 32-bit fingerprints, in front of the table: a query the
/// table does not hold (nearly every one) reads one cache line of a filter of 2 bytes a string
/// instead of a slot of a table 4–8 times its size. A fingerprint sets one bit in each of the eight
/// words of one 64-byte block; a listed fingerprint always passes (no false negatives), and a few
/// in a thousand other queries pass too and go on to the table, which decides.
///
/// Built once from a finished table and never changed, so the threads share it without locks.
final class FingerprintFilter: @unchecked Sendable {
  static let bitsPerString = 16
  static let wordsPerBlock = 8

  private let words: UnsafeMutablePointer<UInt64>
  private let blockCount: Int
  private let storage: LargeAllocation

  var memoryBytes: Int { blockCount * Self.wordsPerBlock * 8 }

  /// Room for `count` fingerprints at `bitsPerString` bits each; nil when the memory cannot be had
  /// (the table then answers alone, as it would without a filter).
  init?(capacity count: Int) {
    let blocks = max(1, (count * Self.bitsPerString + 511) / 512)
    guard let storage = LargeAllocation(byteCount: blocks * Self.wordsPerBlock * 8) else { return nil }
    self.storage = storage
    blockCount = blocks
    words = storage.base.bindMemory(to: UInt64.self, capacity: blocks * Self.wordsPerBlock)
  }

  /// The first word of the fingerprint's block, and the eight bits (6 bits each) it sets in the block's words.
  @inline(__always)
  private func locate(_ fingerprint: UInt32) -> (block: Int, bits: UInt64) {
    // The fingerprint is the hash's top bits, which also place its slot: remixed, so that the
    // filter's block and the table's slot do not follow each other.
    var mixed = UInt64(fingerprint) &* 0x9e37_79b9_7f4a_7c15
    mixed ^= mixed >> 29
    mixed &*= 0xbf58_476d_1ce4_e5b9
    mixed ^= mixed >> 32
    let block = Int(truncatingIfNeeded: ((mixed >> 32) &* UInt64(blockCount)) >> 32)
    return (block * Self.wordsPerBlock, mixed &* 0x94d0_49bb_1331_11eb)
  }

  func insert(_ fingerprint: UInt32) {
    let (first, bits) = locate(fingerprint)
    for word in 0..<Self.wordsPerBlock {
      words[first + word] |= 1 << ((bits >> UInt64(word * 6)) & 63)
    }
  }

  /// False when the fingerprint was never inserted; true when it was, or for a few in a thousand others.
  @inline(__always)
  func mayContain(_ fingerprint: UInt32) -> Bool {
    let (first, bits) = locate(fingerprint)
    var missing: UInt64 = 0
    for word in 0..<Self.wordsPerBlock {
      let bit: UInt64 = 1 << ((bits >> UInt64(word * 6)) & 63)
      missing |= ~words[first + word] & bit
    }
    return missing == 0
  }
}

/// Zeroed memory of its own mapping, on huge pages where the kernel allows them: a table of
/// hundreds of MiB probed at random costs a TLB miss per probe on 4 KiB pages (a two-level walk
/// under a hypervisor), far less on 2 MiB ones. Unmapped when released.
final class LargeAllocation: @unchecked Sendable {
  static let hugePageBytes = 2 << 20

  let base: UnsafeMutableRawPointer
  let byteCount: Int
  /// Whether the kernel took the huge-page advice (`madvise`); refused (no THP), 4 KiB pages serve.
  let hugePagesAdvised: Bool

  /// Nil when the mapping fails.
  init?(byteCount: Int) {
    self.byteCount = max(byteCount, 1)
    guard let mapped = mmap(nil, self.byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
      mapped != MAP_FAILED
    else { return nil }
    base = mapped
    hugePagesAdvised = Self.adviseHugePages(mapped, byteCount: self.byteCount)
  }

  deinit {
    // munmap of a range this object mapped fails only on a bad argument, which would be a bug here.
    let unmapped = munmap(base, byteCount)
    assert(unmapped == 0, "munmap of a filter's memory failed")
  }

  /// Advises huge pages for the 2 MiB-aligned part of the range (the kernel's unit); false when
  /// there is none or the kernel refuses. Memory not yet touched then faults in 2 MiB at a time.
  @discardableResult
  static func adviseHugePages(_ start: UnsafeMutableRawPointer, byteCount: Int) -> Bool {
    let address = UInt(bitPattern: start)
    let alignedStart = (address + UInt(hugePageBytes) - 1) & ~UInt(hugePageBytes - 1)
    let alignedEnd = (address + UInt(byteCount)) & ~UInt(hugePageBytes - 1)
    guard alignedEnd > alignedStart, let aligned = UnsafeMutableRawPointer(bitPattern: alignedStart) else {
      return false
    }
    #if os(Linux)
      return madvise(aligned, Int(alignedEnd - alignedStart), MADV_HUGEPAGE) == 0
    #else
      return false
    #endif
  }
}

/// Byte strings kept end to end in one arena and found through an open-addressing table of their
/// hashes: about 2 bytes of overhead a string in the arena, 4 for its offset, and 8 a slot at a load
/// between 3/8 and 3/4. The caller hashes (so a domain can hash label by label) and says how a
/// candidate is verified; the table never decides equality on a hash alone.
struct ByteTable: Sendable {
  enum Insertion: Equatable {
    case inserted(UInt32)
    case duplicate(UInt32)
    /// The arena would pass 4 GiB or the table 2^31 entries.
    case full
  }

  /// Each entry: its length (2 bytes, little-endian), then its bytes.
  private var arena: [UInt8] = []
  private var offsets: [UInt32] = []
  /// 0 is empty; otherwise the hash's top 32 bits << 32 | (entry + 1). A slot's home is the hash's
  /// top `bits` bits, so the table doubles without rehashing the strings.
  private var slots: [UInt64] = Array(repeating: 0, count: 16)
  private var bits = 4
  /// Built by `shrinkToFit` once the table is loaded; a later insertion drops it.
  private var filter: FingerprintFilter?

  var count: Int { offsets.count }

  /// Times an insertion outgrew the arena, the offsets or the slots (each a copy with the old buffer
  /// alive): zero for a load sized from its feeds.
  private(set) var growths = 0

  /// The filter's bytes: 0 until `shrinkToFit` builds it.
  var filterBytes: Int { filter?.memoryBytes ?? 0 }

  /// What is written: room reserved and never filled costs address space, not resident memory.
  var memoryBytes: Int { arena.count + offsets.count * 4 + slots.capacity * 8 + (filter?.memoryBytes ?? 0) }

  @inline(__always)
  private func home(_ fingerprint: UInt32) -> Int { Int(fingerprint >> UInt32(32 - bits)) }

  /// The entry whose hash is `hash` and whose bytes `matches` accepts.
  @inline(__always)
  func find(hash: UInt64, matching matches: (UnsafeRawBufferPointer) -> Bool) -> UInt32? {
    let fingerprint = UInt32(truncatingIfNeeded: hash >> 32)
    if let filter, !filter.mayContain(fingerprint) { return nil }
    return findInSlots(hash: hash, matching: matches)
  }

  /// As `find(hash:matching:)`, without asking the filter.
  @inline(__always)
  private func findInSlots(hash: UInt64, matching matches: (UnsafeRawBufferPointer) -> Bool) -> UInt32? {
    let fingerprint = UInt32(truncatingIfNeeded: hash >> 32)
    return slots.withUnsafeBufferPointer { slots in
      arena.withUnsafeBytes { arena in
        offsets.withUnsafeBufferPointer { offsets in
          let mask = slots.count - 1
          var index = home(fingerprint)
          while true {
            let slot = slots[index]
            if slot == 0 { return nil }
            if UInt32(truncatingIfNeeded: slot >> 32) == fingerprint {
              let entry = UInt32(truncatingIfNeeded: slot) - 1
              if matches(Self.entryBytes(arena, at: Int(offsets[Int(entry)]))) { return entry }
            }
            index = (index + 1) & mask
          }
        }
      }
    }
  }

  /// The first slot of each hash's probe sequence, 0 (empty) for those the filter rules out; the
  /// filter's blocks, then the slots of those that pass, are read together so that their cache
  /// misses overlap (a suffix lookup probes several unrelated hashes). `find(hash:firstSlot:matching:)`
  /// goes on from there.
  @inline(__always)
  func firstSlots(_ hashes: UnsafeBufferPointer<UInt64>, into output: UnsafeMutableBufferPointer<UInt64>) {
    if let filter {
      for index in hashes.indices {
        output[index] = filter.mayContain(UInt32(truncatingIfNeeded: hashes[index] >> 32)) ? 1 : 0
      }
    } else {
      for index in hashes.indices { output[index] = 1 }
    }
    slots.withUnsafeBufferPointer { slots in
      for index in hashes.indices where output[index] != 0 {
        output[index] = slots[home(UInt32(truncatingIfNeeded: hashes[index] >> 32))]
      }
    }
  }

  /// As `find(hash:matching:)`, given the slot at the hash's home already read.
  @inline(__always)
  func find(hash: UInt64, firstSlot: UInt64, matching matches: (UnsafeRawBufferPointer) -> Bool) -> UInt32? {
    if firstSlot == 0 { return nil }
    return findInSlots(hash: hash, matching: matches)
  }

  /// Adds `bytes` (at most 65,535) unless an equal string is held; `hash` must be the hash `find`
  /// will be given for it.
  mutating func insert(_ bytes: UnsafeRawBufferPointer, hash: UInt64) -> Insertion {
    filter = nil
    if let existing = find(hash: hash, matching: { $0.elementsEqual(bytes) }) { return .duplicate(existing) }
    guard arena.count + 2 + bytes.count <= Int(UInt32.max), offsets.count < Int(Int32.max) else { return .full }
    if (offsets.count + 1) * 4 > slots.count * 3 { grow() }
    if arena.count + 2 + bytes.count > arena.capacity || offsets.count == offsets.capacity { growths += 1 }
    let entry = UInt32(offsets.count)
    offsets.append(UInt32(arena.count))
    arena.append(UInt8(truncatingIfNeeded: bytes.count))
    arena.append(UInt8(truncatingIfNeeded: bytes.count >> 8))
    arena.append(contentsOf: bytes)
    place(fingerprint: UInt32(truncatingIfNeeded: hash >> 32), entry: entry)
    return .inserted(entry)
  }

  func withBytes<Result>(of entry: UInt32, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    arena.withUnsafeBytes { body(Self.entryBytes($0, at: Int(offsets[Int(entry)]))) }
  }

  /// Makes room for `entries` more strings of `bytes` bytes in all (their length prefixes included),
  /// so that a load sized from its feeds never doubles an array: a doubling holds the old buffer and
  /// the new one at once, which a reload (two sets side by side) cannot afford.
  mutating func reserveCapacity(entries: Int, bytes: Int) {
    arena.reserveCapacity(arena.count + bytes)
    offsets.reserveCapacity(offsets.count + entries)
    let wanted = offsets.count + entries
    if offsets.isEmpty {
      bits = max(bits, Self.slotBits(holding: wanted))
      if slots.count != 1 << bits { slots = Self.emptySlots(count: 1 << bits) }
    } else {
      while wanted * 4 > slots.count * 3 && bits < 32 { grow() }
    }
  }

  /// Drops spare capacity once loading is done, unless it is at most an eighth of what is used: a
  /// reserved tail that was never written costs address space, not resident memory, while the exact
  /// copy would hold the arena twice for a moment.
  /// Then rebuilds slots sized for far more entries than were inserted (a reservation counted from
  /// lines that turned out malformed: every slot was written, so all of them are resident), and
  /// builds the filter from the slots' fingerprints.
  mutating func shrinkToFit() {
    arena = Self.fitted(arena, readAtRandom: true)
    offsets = Self.fitted(offsets, readAtRandom: true)
    // Within a doubling of the fit is what growing leaves too; only a table four times too large or
    // more is rebuilt, so a load sized from its feeds (duplicates aside) keeps its slots.
    let fittingBits = Self.slotBits(holding: offsets.count)
    if bits > fittingBits + 1 {
      let old = slots
      bits = fittingBits
      slots = Self.emptySlots(count: 1 << bits)
      for slot in old where slot != 0 {
        place(fingerprint: UInt32(truncatingIfNeeded: slot >> 32), entry: UInt32(truncatingIfNeeded: slot) - 1)
      }
    }
    guard !offsets.isEmpty, let filter = FingerprintFilter(capacity: offsets.count) else { return }
    for slot in slots where slot != 0 { filter.insert(UInt32(truncatingIfNeeded: slot >> 32)) }
    self.filter = filter
  }

  /// The bits of the smallest table (16 slots at least) that holds `entries` at a load of 3/4 or less.
  static func slotBits(holding entries: Int) -> Int {
    var bits = 4
    while entries * 4 > (1 << bits) * 3 && bits < 32 { bits += 1 }
    return bits
  }

  private mutating func place(fingerprint: UInt32, entry: UInt32) {
    let mask = slots.count - 1
    var index = home(fingerprint)
    while slots[index] != 0 { index = (index + 1) & mask }
    slots[index] = UInt64(fingerprint) << 32 | UInt64(entry + 1)
  }

  private mutating func grow() {
    growths += 1
    let old = slots
    bits += 1
    slots = Self.emptySlots(count: 1 << bits)
    for slot in old where slot != 0 {
      place(fingerprint: UInt32(truncatingIfNeeded: slot >> 32), entry: UInt32(truncatingIfNeeded: slot) - 1)
    }
  }

  @inline(__always)
  private static func entryBytes(_ arena: UnsafeRawBufferPointer, at offset: Int) -> UnsafeRawBufferPointer {
    let length = Int(arena[offset]) | Int(arena[offset + 1]) << 8
    return UnsafeRawBufferPointer(rebasing: arena[(offset + 2)..<(offset + 2 + length)])
  }

  /// `array`, copied to its exact size only when more than an eighth of its capacity is spare: the
  /// copy holds the array twice for a moment, and a tail reserved and never written is not resident.
  /// `readAtRandom`: the copy is advised onto huge pages (what every lookup reads: an arena's
  /// bytes, its offsets), which an array read only to describe a match does not need.
  static func fitted<Element>(_ array: [Element], readAtRandom: Bool = false) -> [Element] {
    array.capacity - array.count > array.count / 8 ? exactCopy(array, readAtRandom: readAtRandom) : array
  }

  static func exactCopy<Element>(_ array: [Element], readAtRandom: Bool = false) -> [Element] {
    guard array.capacity > array.count else { return array }
    return [Element](unsafeUninitializedCapacity: array.count) { buffer, initialized in
      if readAtRandom, let base = buffer.baseAddress {
        LargeAllocation.adviseHugePages(base, byteCount: buffer.count * MemoryLayout<Element>.stride)
      }
      _ = buffer.initialize(fromContentsOf: array)
      initialized = array.count
    }
  }

  /// A slot table of `count` empty slots, on huge pages where it spans them (advised before the
  /// zeros are written, so that it faults in 2 MiB at a time).
  static func emptySlots(count: Int) -> [UInt64] {
    [UInt64](unsafeUninitializedCapacity: count) { buffer, initialized in
      if let base = buffer.baseAddress { LargeAllocation.adviseHugePages(base, byteCount: count * 8) }
      buffer.initialize(repeating: 0)
      initialized = count
    }
  }

  /// Advises huge pages for an array's reserved storage, before the loader writes into it: a large
  /// table read at random then costs far fewer TLB misses.
  static func adviseHugePages<Element>(_ array: inout [Element]) {
    let capacity = array.capacity
    array.withUnsafeMutableBufferPointer { buffer in
      if let base = buffer.baseAddress {
        LargeAllocation.adviseHugePages(
          UnsafeMutableRawPointer(base), byteCount: capacity * MemoryLayout<Element>.stride)
      }
    }
  }
}

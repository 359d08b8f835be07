/// Prefixes of one address family flattened into sorted, non-overlapping ranges, each naming the most
/// specific prefix that covers it; a lookup is a binary search in the ranges. Past `indexedFrom`
/// ranges, a 64 Ki index by the address's top 16 bits narrows the search first (256 KiB, more than a
/// short list itself: a rule's inline items or a small allowlist search all their ranges instead).
/// Nested prefixes cost at most two ranges each.
struct PrefixTable<Key: FixedWidthInteger & UnsignedInteger & Sendable>: Sendable {
  static var none: UInt32 { .max }
  /// From this many ranges on a lookup goes through the index (below it, at most ten steps of a
  /// search over 16 KiB at most).
  static var indexedFrom: Int { 1_024 }

  /// Distinct prefixes, sorted; an entry is an index into these.
  private(set) var networks: [Key] = []
  private(set) var lengths: [UInt8] = []
  /// The record (load order number) each prefix came from, for its origin and line.
  private(set) var records: [UInt32] = []
  private var rangeStarts: [Key] = [0]
  private var rangeEntries: [UInt32] = [PrefixTable.none]
  /// `bucketStarts[b]`: the first range starting at or after `b << (bitWidth - 16)`; empty below
  /// `indexedFrom` ranges.
  private var bucketStarts: [UInt32] = []
  private(set) var duplicates = 0

  var count: Int { networks.count }

  var memoryBytes: Int {
    let keyBytes = Key.bitWidth / 8
    return networks.capacity * keyBytes + lengths.capacity + records.capacity * 4 + rangeStarts.capacity * keyBytes
      + rangeEntries.capacity * 4 + bucketStarts.capacity * 4
  }

  /// `prefixes` hold masked networks; of equal ones the lowest record is kept, the others counted.
  /// Sorted in place: pass the builder's array with `consume`, so that no second copy is made.
  init(prefixes: consuming [(network: Key, length: UInt8, record: UInt32)]) {
    prefixes.sort { ($0.network, $0.length, $0.record) < ($1.network, $1.length, $1.record) }
    networks.reserveCapacity(prefixes.count)
    lengths.reserveCapacity(prefixes.count)
    records.reserveCapacity(prefixes.count)
    for prefix in prefixes {
      if let last = networks.last, last == prefix.network, lengths.last == prefix.length {
        duplicates += 1
        continue
      }
      networks.append(prefix.network)
      lengths.append(prefix.length)
      records.append(prefix.record)
    }
    // An empty table (an address list holding one family only) costs nothing and answers nil.
    guard !networks.isEmpty else { return }
    prefixes = []
    networks = ByteTable.fitted(networks)
    lengths = ByteTable.fitted(lengths)
    records = ByteTable.fitted(records)
    // Sized exactly by a first sweep that only counts: the ranges never double, and no copy to the
    // exact size holds them twice (a reload's peak is two sets side by side, and nothing more).
    var counting = RangeSink.fresh
    flatten(into: &counting)
    rangeStarts.reserveCapacity(counting.count)
    rangeEntries.reserveCapacity(counting.count)
    // Read at random by every lookup: on huge pages where they span them (a 4 KiB page's TLB miss
    // costs more than the search).
    ByteTable.adviseHugePages(&rangeStarts)
    ByteTable.adviseHugePages(&rangeEntries)
    var storing = RangeSink.storing
    flatten(into: &storing)
    if rangeStarts.count >= Self.indexedFrom { indexBuckets() }
  }

  /// The most specific prefix holding `key`.
  @inline(__always)
  func lookup(_ key: Key) -> UInt32? {
    // An empty table (one family absent) answers before any search; `/0` alone is one range.
    guard !networks.isEmpty else { return nil }
    return rangeStarts.withUnsafeBufferPointer { starts in
      var (low, high) = (0, starts.count)
      if !bucketStarts.isEmpty {
        let bucket = Int(truncatingIfNeeded: key >> (Key.bitWidth - 16))
        (low, high) = (Int(bucketStarts[bucket]), Int(bucketStarts[bucket + 1]))
      }
      while low < high {
        let middle = (low + high) / 2
        if starts[middle] <= key { low = middle + 1 } else { high = middle }
      }
      // Range 0 starts at 0, so there is always a range at or before `key`.
      let entry = rangeEntries[low - 1]
      return entry == Self.none ? nil : entry
    }
  }

  static func mask(_ length: Int) -> Key {
    length == 0 ? 0 : Key.max << (Key.bitWidth - length)
  }

  /// Where a sweep's ranges go: counted only (to size the arrays), or stored.
  private enum RangeSink {
    case counting(count: Int, lastStart: Key?, lastEntry: UInt32)
    case storing

    static var fresh: RangeSink { .counting(count: 1, lastStart: 0, lastEntry: PrefixTable.none) }

    var count: Int {
      if case .counting(let count, _, _) = self { return count }
      return 0
    }
  }

  /// Sweeps the sorted prefixes with a stack of the open ones: each prefix starts a range, and where
  /// one ends the range of the prefix around it (or none) resumes.
  private mutating func flatten(into sink: inout RangeSink) {
    var open: [(end: Key, entry: UInt32)] = []
    for entry in networks.indices {
      let start = networks[entry]
      while let top = open.last, top.end < start {
        open.removeLast()
        emitRange(from: top.end + 1, entry: open.last?.entry ?? Self.none, into: &sink)
      }
      open.append((start | ~Self.mask(Int(lengths[entry])), UInt32(entry)))
      emitRange(from: start, entry: UInt32(entry), into: &sink)
    }
    // Whatever ends at the top of the space closes nothing after it.
    while let top = open.popLast(), top.end != Key.max {
      emitRange(from: top.end + 1, entry: open.last?.entry ?? Self.none, into: &sink)
    }
  }

  /// A range from `start`: replaces the last one when it starts there too, and is left out when it
  /// names the same entry as the last (the counting sweep follows the same rule on its own copy).
  private mutating func emitRange(from start: Key, entry: UInt32, into sink: inout RangeSink) {
    switch sink {
    case .counting(let count, let lastStart, let lastEntry):
      if lastStart == start {
        sink = .counting(count: count, lastStart: lastStart, lastEntry: entry)
      } else if lastEntry != entry {
        sink = .counting(count: count + 1, lastStart: start, lastEntry: entry)
      }
    case .storing:
      if rangeStarts.last == start {
        rangeEntries[rangeEntries.count - 1] = entry
      } else if rangeEntries.last != entry {
        rangeStarts.append(start)
        rangeEntries.append(entry)
      }
    }
  }

  private mutating func indexBuckets() {
    bucketStarts = Array(repeating: 0, count: 65_537)
    var range = 0
    for bucket in 0...65_536 {
      if bucket < 65_536 {
        let bucketStart = Key(bucket) << (Key.bitWidth - 16)
        while range < rangeStarts.count && rangeStarts[range] < bucketStart { range += 1 }
      } else {
        range = rangeStarts.count
      }
      bucketStarts[bucket] = UInt32(range)
    }
  }
}

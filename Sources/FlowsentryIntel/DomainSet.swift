import FlowsentryCore

/// Domain names for exact or suffix matching. A name is stored once, normalized (lower case, no
/// trailing dot), in a `ByteTable`; its hash is chained label by label from the right, so a lookup
/// hashes a query name once, right to left, and probes the table at each label boundary: the cost is
/// one probe a label whatever the set's size, and `notevil.com` never meets `evil.com`.
struct DomainSet: Sendable {
  let matching: DomainMatch
  private var table = ByteTable()
  private let hasher: KeyedHash

  init(matching: DomainMatch, hasher: KeyedHash = KeyedHash()) {
    self.matching = matching
    self.hasher = hasher
  }

  var count: Int { table.count }
  var memoryBytes: Int { table.memoryBytes }
  var growths: Int { table.growths }
  var filterBytes: Int { table.filterBytes }

  /// `name` must be normalized (`IndicatorParsing.normalizeDomain`).
  mutating func insert(normalized name: UnsafeRawBufferPointer) -> ByteTable.Insertion {
    var state = hasher.initialState
    var labelEnd = name.count
    var labels = 0
    var topLabel: UInt64 = 0
    while labelEnd > 0 {
      var start = labelEnd
      while start > 0 && name[start - 1] != UInt8(ascii: ".") { start -= 1 }
      state = hasher.combine(state, name.baseAddress! + start, count: labelEnd - start, lowercasing: true)
      labels += 1
      if labels == 1 { topLabel = Self.topLabelBit(state) }
      labelEnd = start - 1
    }
    let insertion = table.insert(name, hash: state)
    if case .inserted = insertion {
      labelCounts |= Self.labelCountBit(labels)
      topLabels |= topLabel
    }
    return insertion
  }

  /// One bit per listed name's top-level label (of 64, by its hash): a name whose top-level label
  /// sets a bit no listed name does is answered after hashing that one label. Feeds of many names
  /// set every bit; the lists a host without feeds has (a self-test item or two, under `.invalid`)
  /// set one, and then a name under `.com` costs one label's hash, not a hash and a probe per suffix.
  private var topLabels: UInt64 = 0

  @inline(__always)
  private static func topLabelBit(_ state: UInt64) -> UInt64 { 1 << (state >> 58) }

  /// Bit n-1 set when some listed name has n labels (bit 63: 64 or more). A suffix lookup probes only
  /// the suffixes whose label count is listed, so `com` is not probed for every name unless a feed
  /// lists a top-level domain.
  private var labelCounts: UInt64 = 0

  @inline(__always)
  private static func labelCountBit(_ labels: Int) -> UInt64 { 1 << UInt64(min(labels, 64) - 1) }

  /// Probes gathered before their slots are read together; a name with more is probed in batches.
  private static let batchSize = 16

  /// The entry matching `name` (any case, a trailing dot ignored): for suffix sets the most specific
  /// listed name that is `name` or one of its parents. A name with an empty label matches only
  /// through the labels right of it.
  func lookup(_ name: UnsafeRawBufferPointer) -> UInt32? {
    // An empty list (an optional feed not there) costs nothing, not a hash of the name.
    guard let base = name.baseAddress, labelCounts != 0 else { return nil }
    // No listed name has more labels than this: the labels left of it are neither hashed nor probed
    // (unbounded when some name has 64 or more).
    let deepest = 64 - labelCounts.leadingZeroBitCount
    var end = name.count
    if end > 0 && name[end - 1] == UInt8(ascii: ".") { end -= 1 }
    return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: Self.batchSize * 2) { scratch in
      withUnsafeTemporaryAllocation(of: Int.self, capacity: Self.batchSize) { starts in
        var pending = 0
        var best: UInt32?
        var state = hasher.initialState
        var labelEnd = end
        var labels = 0
        while labelEnd > 0 {
          var start = labelEnd
          while start > 0 && base.load(fromByteOffset: start - 1, as: UInt8.self) != UInt8(ascii: ".") { start -= 1 }
          guard start < labelEnd else { break }
          state = hasher.combine(state, base + start, count: labelEnd - start, lowercasing: true)
          labels += 1
          if labels == 1 && topLabels & Self.topLabelBit(state) == 0 { return nil }
          if (matching == .suffix || start == 0) && labelCounts & Self.labelCountBit(labels) != 0 {
            scratch[pending] = state
            starts[pending] = start
            pending += 1
            if pending == Self.batchSize {
              best = probe(scratch, starts, pending, base: base, end: end) ?? best
              pending = 0
            }
          }
          labelEnd = start - 1
          if labels >= deepest && deepest < 64 { break }
        }
        return probe(scratch, starts, pending, base: base, end: end) ?? best
      }
    }
  }

  /// The most specific of `count` gathered probes that is listed.
  @inline(__always)
  private func probe(
    _ scratch: UnsafeMutableBufferPointer<UInt64>, _ starts: UnsafeMutableBufferPointer<Int>, _ count: Int,
    base: UnsafeRawPointer, end: Int
  ) -> UInt32? {
    guard count > 0 else { return nil }
    let hashes = UnsafeBufferPointer(rebasing: scratch[0..<count])
    let firstSlots = UnsafeMutableBufferPointer(rebasing: scratch[Self.batchSize..<(Self.batchSize + count)])
    table.firstSlots(hashes, into: firstSlots)
    for index in (0..<count).reversed() {
      let query = UnsafeRawBufferPointer(start: base + starts[index], count: end - starts[index])
      if let entry = table.find(
        hash: hashes[index], firstSlot: firstSlots[index],
        matching: { Self.equalIgnoringASCIICase(stored: $0, query) })
      {
        return entry
      }
    }
    return nil
  }

  func name(of entry: UInt32) -> String {
    table.withBytes(of: entry) { String(decoding: $0, as: UTF8.self) }
  }

  mutating func shrinkToFit() { table.shrinkToFit() }

  mutating func reserveCapacity(entries: Int, bytes: Int) { table.reserveCapacity(entries: entries, bytes: bytes) }

  @inline(__always)
  private static func equalIgnoringASCIICase(stored: UnsafeRawBufferPointer, _ query: UnsafeRawBufferPointer) -> Bool {
    guard stored.count == query.count else { return false }
    for index in 0..<stored.count where stored[index] != ASCIICaseFolding.lowercased(query[index]) { return false }
    return true
  }
}

/// Byte strings compared exactly, case and all.
struct StringSet: Sendable {
  private var table = ByteTable()
  private let hasher: KeyedHash

  init(hasher: KeyedHash = KeyedHash()) { self.hasher = hasher }

  var count: Int { table.count }
  var memoryBytes: Int { table.memoryBytes }
  var filterBytes: Int { table.filterBytes }

  mutating func insert(_ bytes: UnsafeRawBufferPointer) -> ByteTable.Insertion {
    table.insert(bytes, hash: hash(bytes))
  }

  func lookup(_ bytes: UnsafeRawBufferPointer) -> UInt32? {
    table.find(hash: hash(bytes)) { $0.elementsEqual(bytes) }
  }

  func string(of entry: UInt32) -> String {
    table.withBytes(of: entry) { String(decoding: $0, as: UTF8.self) }
  }

  mutating func shrinkToFit() { table.shrinkToFit() }

  mutating func reserveCapacity(entries: Int, bytes: Int) { table.reserveCapacity(entries: entries, bytes: bytes) }

  @inline(__always)
  private func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    guard let base = bytes.baseAddress else { return hasher.initialState }
    return hasher.combine(hasher.initialState, base, count: bytes.count, lowercasing: false)
  }
}

/// Ports: a 64 Ki table from port to entry, so a lookup is one load.
struct PortSet: Sendable {
  private var entryOfPort: [UInt32] = []
  private(set) var ports: [UInt16] = []

  var count: Int { ports.count }
  var memoryBytes: Int { entryOfPort.capacity * 4 + ports.capacity * 2 }

  mutating func insert(_ port: UInt16) -> ByteTable.Insertion {
    if entryOfPort.isEmpty { entryOfPort = Array(repeating: .max, count: 65_536) }
    let existing = entryOfPort[Int(port)]
    if existing != .max { return .duplicate(existing) }
    let entry = UInt32(ports.count)
    entryOfPort[Int(port)] = entry
    ports.append(port)
    return .inserted(entry)
  }

  func lookup(_ port: UInt16) -> UInt32? {
    guard !entryOfPort.isEmpty else { return nil }
    let entry = entryOfPort[Int(port)]
    return entry == .max ? nil : entry
  }
}

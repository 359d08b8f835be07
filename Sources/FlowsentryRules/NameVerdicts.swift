import Synchronization

/// What the rules concluded about each peer name lately, so that a name met again costs one probe
/// instead of its scans and list lookups.
///
/// The peer names of flow events come from the DNS cache, which hands every flow to an address the
/// same `String` values: a name is met again as the same value, not merely equal bytes. The table
/// is keyed by a name's own 16 bytes (for a long name, its storage's address and length; a short
/// one is held inline, so the bytes are the name) and keeps that value alive while it has the
/// entry, so no other name can take the storage's address meanwhile: equal keys mean the same name,
/// and a lookup reads neither the name's bytes nor a hash of them. A name decoded anew for each
/// event (a DNS question, a replayed line) only misses. What an entry holds for a name is each
/// consumer's answer (a scan's matched tests, an intel test's verdict), which depends on the name
/// alone, under the consumer's id.
///
/// One engine's, so its rule set's: a reload starts an empty table. Bounded (`capacity` entries,
/// direct-mapped); an entry whose name was met again since it was filled is kept once against a
/// newcomer (a second chance), so that names that recur are not pushed out by names met once.
/// Not thread-safe: the engine's thread alone uses it, as the scans it serves.
final class NameVerdicts {
  struct Counters: Sendable, Equatable {
    /// Answers read from the table, answers computed and stored, and names that took the entry of
    /// another.
    var hits: UInt64 = 0
    var misses: UInt64 = 0
    var evictions: UInt64 = 0
  }

  /// Answers kept per name: the name consumers of a rule set are few (a scan per field and kind,
  /// an intel test per list); beyond this, the rest are computed each time.
  static let answersPerName = 8
  /// Entries: about the names of a DNS cache at its default bound (100,000 addresses).
  static let defaultCapacity = 1 << 17

  /// An entry's words: the key (2), the consumer ids (4, two a word), the answers (8), then the
  /// second-chance flag (1), padded to two cache lines.
  private static let stride = 16
  private static let idWords = 2
  private static let answerWords = 6
  private static let flagWord = 14

  private let words: UnsafeMutablePointer<UInt64>
  /// The name of each entry, held so that its key stays its own.
  private let owners: UnsafeMutablePointer<String>
  private let mask: Int
  private(set) var counters = Counters()

  private static let consumerIDs = Atomic<UInt32>(0)

  /// A consumer's id, unique in the process (0 is never one: it marks a free answer).
  static func nextConsumerID() -> UInt32 {
    var id: UInt32 = 0
    while id == 0 { id = consumerIDs.wrappingAdd(1, ordering: .relaxed).newValue }
    return id
  }

  init(capacity: Int = NameVerdicts.defaultCapacity) {
    precondition(MemoryLayout<String>.size == 16, "a name's key is its 16 bytes")
    let entries = max(16, 1 << (Int.bitWidth - (max(16, capacity) - 1).leadingZeroBitCount))
    mask = entries - 1
    words = .allocate(capacity: entries * Self.stride)
    words.initialize(repeating: 0, count: entries * Self.stride)
    owners = .allocate(capacity: entries)
    owners.initialize(repeating: "", count: entries)
  }

  deinit {
    owners.deinitialize(count: mask + 1)
    owners.deallocate()
    words.deallocate()
  }

  /// The memory the table holds, in bytes.
  var memoryBytes: Int { (mask + 1) * (Self.stride * 8 + MemoryLayout<String>.stride) }

  /// `consumer`'s answer for `name`: the one stored, else `compute`'s, stored when it returns one
  /// that may be kept (nil: use `answer` this once, e.g. a regex limit was hit).
  @inline(__always)
  func answer(
    _ name: String, consumer: UInt32, compute: () -> (answer: UInt64, keep: Bool)
  ) -> UInt64 {
    let key = unsafeBitCast(name, to: (UInt64, UInt64).self)
    guard key != (0, 0) else { return compute().answer }
    var mixed = (key.0 ^ (key.1 &* 0x9e37_79b9_7f4a_7c15)) &* 0xbf58_476d_1ce4_e5b9
    mixed ^= mixed >> 31
    let index = Int(truncatingIfNeeded: mixed) & mask
    let entry = words + index * Self.stride
    if entry[0] == key.0 && entry[1] == key.1 {
      let ids = UnsafeMutableRawPointer(entry + Self.idWords).assumingMemoryBound(to: UInt32.self)
      for slot in 0..<Self.answersPerName where ids[slot] == consumer {
        counters.hits &+= 1
        entry[Self.flagWord] = 1
        return entry[Self.answerWords + slot]
      }
      let computed = compute()
      if computed.keep { store(computed.answer, consumer, in: entry) }
      return computed.answer
    }
    let computed = compute()
    guard computed.keep else { return computed.answer }
    if entry[0] != 0 || entry[1] != 0 {
      // A name met again since it took the entry keeps it once more; the newcomer is not kept.
      if entry[Self.flagWord] != 0 {
        entry[Self.flagWord] = 0
        return computed.answer
      }
      counters.evictions &+= 1
    }
    owners[index] = name
    entry[0] = key.0
    entry[1] = key.1
    (entry + Self.idWords).update(repeating: 0, count: Self.answerWords - Self.idWords)
    entry[Self.flagWord] = 0
    store(computed.answer, consumer, in: entry)
    return computed.answer
  }

  /// Keeps `answer` in the entry's first free slot, or over the slot `consumer` maps to when all
  /// are taken (a consumer beyond `answersPerName` then only displaces another's answer).
  @inline(__always)
  private func store(_ answer: UInt64, _ consumer: UInt32, in entry: UnsafeMutablePointer<UInt64>) {
    counters.misses &+= 1
    let ids = UnsafeMutableRawPointer(entry + Self.idWords).assumingMemoryBound(to: UInt32.self)
    var slot = Int(consumer % UInt32(Self.answersPerName))
    for free in 0..<Self.answersPerName where ids[free] == 0 {
      slot = free
      break
    }
    ids[slot] = consumer
    entry[Self.answerWords + slot] = answer
  }
}

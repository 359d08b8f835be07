/// A dictionary with a fixed capacity that forgets its least recently used entry when full.
///
/// Nodes live in one array linked by indices, so inserting, touching and evicting are O(1)
/// and the memory is bounded by `capacity` from the start. Inlinable, so that users' modules
/// specialize it for their key and value types (no generic dispatch on the hot path).
public struct LRUDictionary<Key: Hashable, Value> {
  @usableFromInline
  struct Node {
    @usableFromInline var key: Key
    @usableFromInline var value: Value
    @usableFromInline var newer: Int
    @usableFromInline var older: Int

    @inlinable init(key: Key, value: Value, newer: Int, older: Int) {
      self.key = key
      self.value = value
      self.newer = newer
      self.older = older
    }
  }

  @usableFromInline static var none: Int { -1 }

  public let capacity: Int
  @usableFromInline var nodes: [Node] = []
  @usableFromInline var slots: [Key: Int] = [:]
  @usableFromInline var freeSlots: [Int] = []
  @usableFromInline var newest = LRUDictionary.none
  @usableFromInline var oldest = LRUDictionary.none

  @inlinable
  public init(capacity: Int) {
    precondition(capacity > 0, "an LRU dictionary needs room for at least one entry")
    self.capacity = capacity
    slots.reserveCapacity(min(capacity, 1024))
  }

  @inlinable public var count: Int { slots.count }
  @inlinable public var isEmpty: Bool { slots.isEmpty }

  /// Reads a value and marks it most recently used.
  @inlinable
  public mutating func touch(_ key: Key) -> Value? {
    guard let slot = slots[key] else { return nil }
    moveToNewest(slot)
    return nodes[slot].value
  }

  /// Lets `body` change a present value in place, hashing the key once; when `body` returns true
  /// the entry becomes the most recently used (as a touch and an insert would leave it), else its
  /// age is unchanged (as a peek). Nil when the key is absent.
  @inlinable
  public mutating func updateIfPresent(_ key: Key, _ body: (inout Value) -> Bool) -> Bool? {
    guard let slot = slots[key] else { return nil }
    guard body(&nodes[slot].value) else { return false }
    moveToNewest(slot)
    return true
  }

  /// Reads a value without changing its age.
  @inlinable
  public func peek(_ key: Key) -> Value? {
    slots[key].map { nodes[$0].value }
  }

  /// Inserts or replaces a value as the most recently used; returns the entry evicted to make room.
  @inlinable @discardableResult
  public mutating func insert(_ value: Value, for key: Key) -> (key: Key, value: Value)? {
    if let slot = slots[key] {
      nodes[slot].value = value
      moveToNewest(slot)
      return nil
    }
    var evicted: (key: Key, value: Value)?
    if slots.count == capacity {
      evicted = removeOldest()
    }
    let slot = nextSlot
    place(key, value, at: slot)
    slots[key] = slot
    return evicted
  }

  /// Inserts a value as the most recently used unless the key is present, in which case that entry
  /// becomes the most recently used and keeps its value. Hashes the key once when it is absent.
  @inlinable
  public mutating func insertIfAbsent(_ value: Value, for key: Key) -> (
    inserted: Bool, evicted: (key: Key, value: Value)?
  ) {
    var evicted: (key: Key, value: Value)?
    if slots.count == capacity {
      if let slot = slots[key] {
        moveToNewest(slot)
        return (false, nil)
      }
      evicted = removeOldest()
    }
    let slot = nextSlot
    if let existing = slots.updateValue(slot, forKey: key) {
      slots[key] = existing
      moveToNewest(existing)
      return (false, evicted)
    }
    place(key, value, at: slot)
    return (true, evicted)
  }

  @inlinable @discardableResult
  public mutating func removeValue(for key: Key) -> Value? {
    guard let slot = slots.removeValue(forKey: key) else { return nil }
    unlink(slot)
    freeSlots.append(slot)
    return nodes[slot].value
  }

  /// The least recently used entry, if any.
  @inlinable
  public var oldestEntry: (key: Key, value: Value)? {
    oldest == Self.none ? nil : (nodes[oldest].key, nodes[oldest].value)
  }

  @inlinable @discardableResult
  public mutating func removeOldest() -> (key: Key, value: Value)? {
    guard let entry = oldestEntry else { return nil }
    removeValue(for: entry.key)
    return entry
  }

  /// Where the next entry goes: a slot freed by a removal, else a new one at the end.
  @inlinable
  var nextSlot: Int { freeSlots.last ?? nodes.count }

  /// Stores an entry in `nextSlot` as the most recently used (the caller maps the key to it).
  @inlinable
  mutating func place(_ key: Key, _ value: Value, at slot: Int) {
    let node = Node(key: key, value: value, newer: Self.none, older: newest)
    if slot == nodes.count {
      nodes.append(node)
    } else {
      freeSlots.removeLast()
      nodes[slot] = node
    }
    if newest != Self.none { nodes[newest].newer = slot }
    newest = slot
    if oldest == Self.none { oldest = slot }
  }

  @inlinable
  mutating func unlink(_ slot: Int) {
    // The two links only: copying the node would retain its key and value on every touch.
    let newer = nodes[slot].newer
    let older = nodes[slot].older
    if newer != Self.none { nodes[newer].older = older } else { newest = older }
    if older != Self.none { nodes[older].newer = newer } else { oldest = newer }
  }

  @inlinable
  mutating func moveToNewest(_ slot: Int) {
    guard slot != newest else { return }
    unlink(slot)
    nodes[slot].older = newest
    nodes[slot].newer = Self.none
    if newest != Self.none { nodes[newest].newer = slot }
    newest = slot
    if oldest == Self.none { oldest = slot }
  }
}

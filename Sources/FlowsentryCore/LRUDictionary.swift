/// A dictionary with a fixed capacity that forgets its least recently used entry when full.
///
/// Nodes live in one array linked by indices, so inserting, touching and evicting are O(1)
/// and the memory is bounded by `capacity` from the start. Keys are found through an open-addressed
/// table of node indices (linear probing, at most half full, grown as entries come) and each node
/// keeps its key's hash: an eviction or a removal hashes no key, and an insertion hashes its key
/// once. Inlinable, so that users' modules specialize it for their key and value types (no generic
/// dispatch on the hot path).
public struct LRUDictionary<Key: Hashable, Value> {
  @usableFromInline
  struct Node {
    @usableFromInline var key: Key
    @usableFromInline var value: Value
    @usableFromInline var newer: Int
    @usableFromInline var older: Int
    @usableFromInline var hash: Int

    @inlinable init(key: Key, value: Value, newer: Int, older: Int, hash: Int) {
      self.key = key
      self.value = value
      self.newer = newer
      self.older = older
      self.hash = hash
    }
  }

  @usableFromInline static var none: Int { -1 }
  /// An empty position of the table.
  @usableFromInline static var vacant: Int32 { -1 }

  public let capacity: Int
  @usableFromInline var nodes: [Node] = []
  /// Node indices by hash; a power of two in size, at least twice `count`.
  @usableFromInline var table: [Int32] = Array(repeating: -1, count: 16)
  @usableFromInline var entries = 0
  @usableFromInline var newest = LRUDictionary.none
  @usableFromInline var oldest = LRUDictionary.none

  @inlinable
  public init(capacity: Int) {
    precondition(capacity > 0, "an LRU dictionary needs room for at least one entry")
    precondition(capacity < Int(Int32.max) / 4, "an LRU dictionary's capacity fits its table's indices")
    self.capacity = capacity
  }

  @inlinable public var count: Int { entries }
  @inlinable public var isEmpty: Bool { entries == 0 }

  /// The table position holding `key`'s node, or the empty position where it would go.
  @inlinable
  func position(of key: Key, hash: Int) -> (position: Int, slot: Int?) {
    let mask = table.count - 1
    var position = hash & mask
    while true {
      let slot = Int(table[position])
      if slot == Int(Self.vacant) { return (position, nil) }
      if nodes[slot].hash == hash && nodes[slot].key == key { return (position, slot) }
      position = (position + 1) & mask
    }
  }

  @inlinable
  func slot(of key: Key) -> Int? {
    guard entries > 0 else { return nil }
    return position(of: key, hash: key.hashValue).slot
  }

  /// Empties a table position, moving back the entries after it that probed past it (so that
  /// no search stops early), from their stored hashes.
  @inlinable
  mutating func vacate(_ start: Int) {
    let mask = table.count - 1
    var hole = start
    var next = (start + 1) & mask
    while table[next] != Self.vacant {
      let home = nodes[Int(table[next])].hash & mask
      // Moves back unless its home lies cyclically within (hole, next].
      let stays = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next)
      if !stays {
        table[hole] = table[next]
        hole = next
      }
      next = (next + 1) & mask
    }
    table[hole] = Self.vacant
  }

  /// Grows the table when one more entry would fill it past half.
  @inlinable
  mutating func reserveForOneMore() {
    guard (entries + 1) * 2 > table.count else { return }
    var grown = [Int32](repeating: Self.vacant, count: table.count * 2)
    let mask = grown.count - 1
    for slot in table where slot != Self.vacant {
      var position = nodes[Int(slot)].hash & mask
      while grown[position] != Self.vacant { position = (position + 1) & mask }
      grown[position] = slot
    }
    table = grown
  }

  /// Reads a value and marks it most recently used.
  @inlinable
  public mutating func touch(_ key: Key) -> Value? {
    touch(key, hashValue: key.hashValue)
  }

  /// As `touch(_:)`, with the key's `hashValue` already computed (a caller looking one key up in
  /// several dictionaries hashes it once).
  @inlinable
  public mutating func touch(_ key: Key, hashValue: Int) -> Value? {
    guard entries > 0, let slot = position(of: key, hash: hashValue).slot else { return nil }
    moveToNewest(slot)
    return nodes[slot].value
  }

  /// Lets `body` change a present value in place, hashing the key once; when `body` returns true
  /// the entry becomes the most recently used (as a touch and an insert would leave it), else its
  /// age is unchanged (as a peek). Nil when the key is absent.
  @inlinable
  public mutating func updateIfPresent(_ key: Key, _ body: (inout Value) -> Bool) -> Bool? {
    updateIfPresent(key, hashValue: key.hashValue, body)
  }

  /// As `updateIfPresent(_:_:)`, with the key's `hashValue` already computed.
  @inlinable
  public mutating func updateIfPresent(_ key: Key, hashValue: Int, _ body: (inout Value) -> Bool) -> Bool? {
    guard entries > 0, let slot = position(of: key, hash: hashValue).slot else { return nil }
    guard body(&nodes[slot].value) else { return false }
    moveToNewest(slot)
    return true
  }

  /// Reads a value without changing its age.
  @inlinable
  public func peek(_ key: Key) -> Value? {
    slot(of: key).map { nodes[$0].value }
  }

  /// As `peek(_:)`, with the key's `hashValue` already computed.
  @inlinable
  public func peek(_ key: Key, hashValue: Int) -> Value? {
    guard entries > 0 else { return nil }
    return position(of: key, hash: hashValue).slot.map { nodes[$0].value }
  }

  /// Inserts or replaces a value as the most recently used; returns the entry evicted to make room.
  @inlinable @discardableResult
  public mutating func insert(_ value: Value, for key: Key) -> (key: Key, value: Value)? {
    insert(value, for: key, hashValue: key.hashValue)
  }

  /// As `insert(_:for:)`, with the key's `hashValue` already computed.
  @inlinable @discardableResult
  public mutating func insert(_ value: Value, for key: Key, hashValue hash: Int) -> (key: Key, value: Value)? {
    if entries > 0, let slot = position(of: key, hash: hash).slot {
      nodes[slot].value = value
      moveToNewest(slot)
      return nil
    }
    var evicted: (key: Key, value: Value)?
    if entries == capacity { evicted = removeOldest() }
    add(key, value, hash: hash)
    return evicted
  }

  /// Inserts a value as the most recently used unless the key is present, in which case that entry
  /// becomes the most recently used and keeps its value. Hashes the key once.
  @inlinable
  public mutating func insertIfAbsent(_ value: Value, for key: Key) -> (
    inserted: Bool, evicted: (key: Key, value: Value)?
  ) {
    let hash = key.hashValue
    if entries > 0, let slot = position(of: key, hash: hash).slot {
      moveToNewest(slot)
      return (false, nil)
    }
    var evicted: (key: Key, value: Value)?
    if entries == capacity { evicted = removeOldest() }
    add(key, value, hash: hash)
    return (true, evicted)
  }

  @inlinable @discardableResult
  public mutating func removeValue(for key: Key) -> Value? {
    removeValue(for: key, hashValue: key.hashValue)
  }

  /// As `removeValue(for:)`, with the key's `hashValue` already computed.
  @inlinable @discardableResult
  public mutating func removeValue(for key: Key, hashValue: Int) -> Value? {
    guard entries > 0 else { return nil }
    let found = position(of: key, hash: hashValue)
    guard let slot = found.slot else { return nil }
    return remove(slot, at: found.position).value
  }

  /// The least recently used entry, if any.
  @inlinable
  public var oldestEntry: (key: Key, value: Value)? {
    oldest == Self.none ? nil : (nodes[oldest].key, nodes[oldest].value)
  }

  @inlinable @discardableResult
  public mutating func removeOldest() -> (key: Key, value: Value)? {
    guard oldest != Self.none else { return nil }
    let slot = oldest
    // Found by its stored hash and its node index: no key is hashed or compared.
    let mask = table.count - 1
    var position = nodes[slot].hash & mask
    while Int(table[position]) != slot { position = (position + 1) & mask }
    return remove(slot, at: position)
  }

  /// Unlinks the node at `slot` (found at table `position`) and moves it out, the last node taking
  /// its slot: the nodes stay dense, and a removed entry leaves no copy behind (which would keep
  /// its value's storage alive, and cost a retain to return it, until the slot's reuse).
  @inlinable
  mutating func remove(_ slot: Int, at position: Int) -> (key: Key, value: Value) {
    vacate(position)
    entries -= 1
    unlink(slot)
    let last = nodes.count - 1
    if slot != last {
      nodes.swapAt(slot, last)
      relink(movedFrom: last, to: slot)
    }
    let removed = nodes.removeLast()
    return (removed.key, removed.value)
  }

  /// Points the list and the table at the node just moved from slot `old` to slot `new`.
  @inlinable
  mutating func relink(movedFrom old: Int, to new: Int) {
    let newer = nodes[new].newer
    let older = nodes[new].older
    if newer != Self.none { nodes[newer].older = new } else { newest = new }
    if older != Self.none { nodes[older].newer = new } else { oldest = new }
    let mask = table.count - 1
    var position = nodes[new].hash & mask
    while Int(table[position]) != old { position = (position + 1) & mask }
    table[position] = Int32(new)
  }

  /// Stores a new entry (its key absent) as the most recently used.
  @inlinable
  mutating func add(_ key: Key, _ value: Value, hash: Int) {
    reserveForOneMore()
    let slot = nodes.count
    nodes.append(Node(key: key, value: value, newer: Self.none, older: newest, hash: hash))
    if newest != Self.none { nodes[newest].newer = slot }
    newest = slot
    if oldest == Self.none { oldest = slot }
    let mask = table.count - 1
    var position = hash & mask
    while table[position] != Self.vacant { position = (position + 1) & mask }
    table[position] = Int32(slot)
    entries += 1
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

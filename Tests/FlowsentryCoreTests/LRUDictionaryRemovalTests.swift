import Testing

@testable import FlowsentryCore

/// A removed or evicted entry is moved out of the dictionary (the last node takes its slot), so
/// that nothing of it stays behind, and the dictionary still answers as one that never moves nodes.
@Suite struct LRUDictionaryRemovalTests {
  final class Payload {
    let number: Int
    init(_ number: Int) { self.number = number }
  }

  @Test func aRemovedValueIsFreedOnceTheCallerDropsIt() {
    var lru = LRUDictionary<Int, Payload>(capacity: 4)
    weak var removed: Payload?
    do {
      let payload = Payload(1)
      removed = payload
      lru.insert(payload, for: 1)
    }
    lru.insert(Payload(2), for: 2)
    lru.insert(Payload(3), for: 3)
    #expect(removed != nil)
    #expect(lru.removeValue(for: 1)?.number == 1)
    #expect(removed == nil)
    #expect(lru.peek(2)?.number == 2)
    #expect(lru.peek(3)?.number == 3)
  }

  @Test func anEvictedValueIsFreedOnceTheCallerDropsIt() {
    var lru = LRUDictionary<Int, Payload>(capacity: 2)
    weak var evicted: Payload?
    do {
      let payload = Payload(1)
      evicted = payload
      lru.insert(payload, for: 1)
    }
    lru.insert(Payload(2), for: 2)
    #expect(lru.insert(Payload(3), for: 3)?.key == 1)
    #expect(evicted == nil)
    #expect(lru.removeOldest()?.key == 2)
    #expect(lru.count == 1)
  }

  /// Random operations against a plain model (a dictionary and a recency list): every answer, the
  /// oldest entry after each step, and the order a final drain yields.
  @Test func randomOperationsAgreeWithAModel() {
    var random: UInt64 = 0x2545_F491_4F6C_DD1D
    func next(_ bound: Int) -> Int {
      random ^= random << 13
      random ^= random >> 7
      random ^= random << 17
      return Int(random % UInt64(bound))
    }
    for capacity in [1, 3, 17] {
      var lru = LRUDictionary<Int, Int>(capacity: capacity)
      var values: [Int: Int] = [:]
      var recency: [Int] = []  // oldest first
      func makeNewest(_ key: Int) {
        recency.removeAll { $0 == key }
        recency.append(key)
      }
      for step in 0..<20_000 {
        let key = next(40)
        switch next(6) {
        case 0:
          let evicted = lru.insert(step, for: key)
          var expected: (Int, Int)?
          if values[key] == nil && values.count == capacity {
            let oldest = recency.removeFirst()
            expected = (oldest, values.removeValue(forKey: oldest)!)
          }
          values[key] = step
          makeNewest(key)
          #expect(evicted?.key == expected?.0 && evicted?.value == expected?.1)
        case 1:
          #expect(lru.touch(key) == values[key])
          if values[key] != nil { makeNewest(key) }
        case 2:
          #expect(lru.removeValue(for: key) == values.removeValue(forKey: key))
          recency.removeAll { $0 == key }
        case 3:
          let removed = lru.removeOldest()
          if let oldest = recency.first {
            recency.removeFirst()
            #expect(removed?.key == oldest && removed?.value == values.removeValue(forKey: oldest))
          } else {
            #expect(removed == nil)
          }
        case 4:
          let changed = lru.updateIfPresent(key) { value in
            value += 1
            return true
          }
          #expect(changed == (values[key] != nil ? true : nil))
          if values[key] != nil {
            values[key]! += 1
            makeNewest(key)
          }
        default:
          #expect(lru.peek(key) == values[key])
        }
        #expect(lru.count == values.count)
        #expect(lru.oldestEntry?.key == recency.first)
      }
      var drained: [Int] = []
      while let entry = lru.removeOldest() {
        #expect(entry.value == values[entry.key])
        drained.append(entry.key)
      }
      #expect(drained == recency)
      #expect(lru.isEmpty)
    }
  }
}

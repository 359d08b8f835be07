import Testing

@testable import FlowsentryCore

/// The LRU's open-addressed table against a plain model (a dictionary and a recency list), with
/// keys whose hashes collide in clusters, so that probing, wrapping and moving back after a
/// removal are all exercised.
@Suite struct LRUDictionaryTableTests {
  /// Hashes onto a handful of values: long probe runs.
  struct Clustered: Hashable {
    var id: Int
    func hash(into hasher: inout Hasher) { hasher.combine(id % 5) }
  }

  @Test(arguments: [1, 3, 8, 50])
  func agreesWithAModelOnRandomOperations(capacity: Int) {
    var lru = LRUDictionary<Clustered, Int>(capacity: capacity)
    var values: [Int: Int] = [:]
    var recency: [Int] = []  // oldest first
    var state = UInt64(capacity) &* 0x9E37_79B9_7F4A_7C15
    func refresh(_ id: Int) {
      recency.removeAll { $0 == id }
      recency.append(id)
    }
    for step in 0..<20_000 {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      let id = Int(state >> 33) % (capacity * 3)
      let key = Clustered(id: id)
      switch (state >> 20) % 5 {
      case 0:
        let evicted = lru.insert(step, for: key)
        if values[id] == nil, values.count == capacity {
          let oldest = recency.removeFirst()
          #expect(evicted?.key.id == oldest)
          #expect(evicted?.value == values[oldest])
          values[oldest] = nil
        } else {
          #expect(evicted == nil)
        }
        values[id] = step
        refresh(id)
      case 1:
        #expect(lru.touch(key) == values[id])
        if values[id] != nil { refresh(id) }
      case 2:
        #expect(lru.peek(key) == values[id])
      case 3:
        #expect(lru.removeValue(for: key) == values[id])
        values[id] = nil
        recency.removeAll { $0 == id }
      default:
        let (inserted, evicted) = lru.insertIfAbsent(step, for: key)
        #expect(inserted == (values[id] == nil))
        if values[id] == nil {
          if values.count == capacity {
            let oldest = recency.removeFirst()
            #expect(evicted?.key.id == oldest)
            values[oldest] = nil
          }
          values[id] = step
        }
        refresh(id)
      }
      #expect(lru.count == values.count)
      #expect(lru.oldestEntry?.key.id == recency.first)
    }
    for id in 0..<(capacity * 3) { #expect(lru.peek(Clustered(id: id)) == values[id]) }
    while let entry = lru.removeOldest() {
      #expect(entry.key.id == recency.removeFirst())
    }
    #expect(recency.isEmpty && lru.isEmpty)
  }
}

import Testing

@testable import FlowsentryCore

@Suite struct LRUDictionaryUpdateTests {
  @Test func anUpdateMakesTheEntryNewestAndALeftAloneOneKeepsItsAge() {
    var lru = LRUDictionary<Int, Int>(capacity: 3)
    lru.insert(10, for: 1)
    lru.insert(20, for: 2)
    lru.insert(30, for: 3)
    // Declined: the value and the age stay (1 is still the oldest).
    #expect(lru.updateIfPresent(1) { _ in false } == false)
    #expect(lru.oldestEntry?.key == 1)
    // Changed: 1 becomes the newest and keeps the change; 2 is now the oldest.
    #expect(
      lru.updateIfPresent(1) { value in
        value += 5; return true
      } == true)
    #expect(lru.peek(1) == 15)
    #expect(lru.oldestEntry?.key == 2)
    #expect(lru.insert(40, for: 4)?.key == 2)
    // Absent: nothing is inserted.
    #expect(lru.updateIfPresent(9) { _ in true } == nil)
    #expect(lru.count == 3)
    #expect(lru.peek(9) == nil)
  }

  @Test func updatesAgreeWithTouchAndInsertOnRandomOperations() {
    var updated = LRUDictionary<Int, Int>(capacity: 8)
    var reference = LRUDictionary<Int, Int>(capacity: 8)
    var state: UInt64 = 0x1234_5678
    for _ in 0..<5_000 {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      let key = Int(state >> 60)
      let bump = (state >> 40) & 1 == 1
      if (state >> 50) % 3 == 0 {
        updated.insert(0, for: key)
        reference.insert(0, for: key)
        continue
      }
      let result = updated.updateIfPresent(key) { value in
        guard bump else { return false }
        value += 1
        return true
      }
      if let value = reference.peek(key) {
        if bump { reference.insert(value + 1, for: key) }
        #expect(result == bump)
      } else {
        #expect(result == nil)
      }
      #expect(updated.oldestEntry?.key == reference.oldestEntry?.key)
    }
    while let entry = reference.removeOldest() {
      #expect(updated.removeOldest()?.key == entry.key)
      #expect(updated.count == reference.count)
    }
  }
}

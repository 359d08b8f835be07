import Testing

@testable import FlowsentryCore

@Suite struct LRUDictionaryTests {
  @Test func evictsTheLeastRecentlyUsedEntry() {
    var lru = LRUDictionary<String, Int>(capacity: 3)
    #expect(lru.insert(1, for: "a") == nil)
    lru.insert(2, for: "b")
    lru.insert(3, for: "c")
    #expect(lru.touch("a") == 1)  // a is now the newest; b the oldest
    let evicted = lru.insert(4, for: "d")
    #expect(evicted?.key == "b")
    #expect(lru.count == 3)
    #expect(lru.peek("b") == nil)
    #expect(lru.oldestEntry?.key == "c")
  }

  @Test func peekDoesNotRefresh() {
    var lru = LRUDictionary<Int, Int>(capacity: 2)
    lru.insert(10, for: 1)
    lru.insert(20, for: 2)
    #expect(lru.peek(1) == 10)
    #expect(lru.insert(30, for: 3)?.key == 1)
  }

  @Test func replacingAValueRefreshesIt() {
    var lru = LRUDictionary<Int, Int>(capacity: 2)
    lru.insert(10, for: 1)
    lru.insert(20, for: 2)
    #expect(lru.insert(11, for: 1) == nil)
    #expect(lru.insert(30, for: 3)?.key == 2)
    #expect(lru.peek(1) == 11)
  }

  @Test func removalFreesSlotsForReuse() {
    var lru = LRUDictionary<Int, Int>(capacity: 4)
    for round in 0..<1000 {
      lru.insert(round, for: round)
      if round % 2 == 0 { #expect(lru.removeValue(for: round) == round) }
    }
    #expect(lru.count == 4)
    #expect(lru.removeOldest()?.key == 993)
    while lru.removeOldest() != nil {}
    #expect(lru.isEmpty && lru.oldestEntry == nil)
  }

  @Test func singleEntryCapacity() {
    var lru = LRUDictionary<Int, String>(capacity: 1)
    lru.insert("x", for: 1)
    #expect(lru.insert("y", for: 2)?.value == "x")
    #expect(lru.touch(2) == "y")
    #expect(lru.count == 1)
  }
  @Test func insertIfAbsentKeepsAPresentValueAndRefreshesIt() {
    var lru = LRUDictionary<String, Int>(capacity: 2)
    let first = lru.insertIfAbsent(1, for: "a")
    #expect(first.inserted && first.evicted == nil)
    lru.insert(2, for: "b")
    // Present: the old value stays and "a" becomes the newest, so that "b" goes first.
    let again = lru.insertIfAbsent(9, for: "a")
    #expect(again.inserted == false && again.evicted == nil)
    #expect(lru.peek("a") == 1)
    let full = lru.insertIfAbsent(3, for: "c")
    #expect(full.inserted && full.evicted?.key == "b")
    // Full and present: nothing is evicted.
    let present = lru.insertIfAbsent(7, for: "c")
    #expect(present.inserted == false && present.evicted == nil)
    #expect(lru.count == 2 && lru.peek("c") == 3 && lru.oldestEntry?.key == "a")
  }

  @Test func insertIfAbsentReusesFreedSlots() {
    var lru = LRUDictionary<Int, Int>(capacity: 3)
    for round in 0...100 {
      #expect(lru.insertIfAbsent(round, for: round).inserted)
      if round % 3 == 0 { lru.removeValue(for: round) }
    }
    #expect(lru.count == 3)
    #expect(lru.removeOldest()?.key == 97)
  }
}

/// The newest uncommitted records, kept in memory so that the output reads and commits them
/// without going back to the disk while it keeps up.
extension Spool {
  /// Records per rank in (low, high] when memory holds all of them.
  func recentRanks(after low: UInt64, through high: UInt64) -> [Int]? {
    guard let first = recentFirst, first <= low + 1 else { return nil }
    var counts = Array(repeating: 0, count: Int(Self.ranks))
    var index = recentHead + Int(low + 1 - first)
    while index < recent.count, recent[index].sequence <= high {
      counts[Int(recent[index].rank)] += 1
      index += 1
    }
    return counts
  }

  var recentFirst: UInt64? { recentHead < recent.count ? recent[recentHead].sequence : nil }

  func remember(_ record: Record) {
    recent.append(record)
    recentBytes += record.payload.count
    while recentBytes > Self.recentLimit, recentHead < recent.count {
      recentBytes -= recent[recentHead].payload.count
      recentHead += 1
    }
    compactRecent()
  }

  func compactRecent() {
    if recentHead == recent.count {
      recent.removeAll(keepingCapacity: true)
      recentHead = 0
    } else if recentHead > 4096, recentHead * 2 > recent.count {
      recent.removeFirst(recentHead)
      recentHead = 0
    }
  }

  func forgetNewest(_ count: Int) {
    for _ in 0..<min(count, recent.count - recentHead) {
      recentBytes -= recent.removeLast().payload.count
    }
  }

  /// Forgets the records in memory (the segments were rewritten under them).
  func forgetRecent() {
    recent.removeAll()
    recentHead = 0
    recentBytes = 0
  }
}

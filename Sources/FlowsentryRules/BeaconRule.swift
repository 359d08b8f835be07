import FlowsentryCore

/// `beacon:` — a rule kind that scores how periodic each group's matching events are (a host
/// calling home every minute), live: per group the last `intervalCapacity` intervals and sizes, not
/// every timestamp, in the engine's LRU of groups (evictions counted).
public struct BeaconRule: Sendable, Equatable {
  /// Fewer connections give too few intervals for quartiles to mean anything.
  public static let leastConnections = 4
  /// Intervals (and sizes) kept per group: enough for stable quartiles, small enough for 10,000
  /// groups a rule in a few megabytes.
  public static let intervalCapacity = 32
  /// Events kept per group for the alert.
  public static let sampleCapacity = 4

  public var groupBy: [String]
  /// Connections the group must have made (its intervals are one fewer).
  public var minimumConnections = 10
  /// The score (0 to 1) from which the group is alerted.
  public var minimumScore = 0.75
  /// A median interval below this is a burst (a page loading), not a beacon.
  public var minimumPeriodNanoseconds: Int64 = 1_000_000_000
  /// Alerts of one group within this window are folded into one, counted (default one hour): the
  /// rule's suppression window unless the rule sets `suppress:` itself.
  public var suppressNanoseconds: Int64 = 3_600_000_000_000

  public init(groupBy: [String]) {
    self.groupBy = groupBy
  }
}

/// One group's recent history: intervals between its matching events and their sizes, as rings
/// kept sorted too. Intervals are milliseconds and sizes bytes, both 32-bit and saturating (an
/// interval past 49 days or a connection past 4 GiB reads as the largest value): a group holds
/// two rings of 32 and their sorted copies inline (512 bytes, no array of their own) and four
/// sampled events, under 1 KB.
final class BeaconHistory {
  // Unchecked as the engine's state (RuleEngine.swift): a history is the engine's alone.
  @exclusivity(unchecked) private(set) var connections = 0
  @exclusivity(unchecked) private var lastTime: Int64?
  @exclusivity(unchecked) private var intervals = SortedRing()
  @exclusivity(unchecked) private var sizes = SortedRing()
  @exclusivity(unchecked) private var sample: [SensorEvent] = []
  @exclusivity(unchecked) private var nextSample = 0

  /// Records one connection at `time` (bytes sent and received when its volume is known). A group
  /// alerts from its `minimumConnections`th connection, whose sample holds it and the ones just
  /// before: a connection further back is never in an alert's sample, and is not copied into it.
  /// Nor is one while the period stays below `minimumPeriodNanoseconds` until it leaves the sample
  /// (`periodStaysShort`): the ring keeps the last events it was given, in order, and the last
  /// `sampleCapacity` before any alert were all given to it.
  func record(
    at time: Int64, bytes: UInt64?, event: SensorEvent, minimumConnections: Int = 0,
    minimumPeriodNanoseconds: Int64 = 0
  ) {
    connections += 1
    if let lastTime {
      let milliseconds = max(0, time.saturatingSubtraction(lastTime)) / 1_000_000
      intervals.append(UInt32(clamping: milliseconds), capacity: BeaconRule.intervalCapacity)
    }
    lastTime = max(lastTime ?? time, time)
    if let bytes { sizes.append(UInt32(clamping: bytes), capacity: BeaconRule.intervalCapacity) }
    if connections + BeaconRule.sampleCapacity <= minimumConnections
      || periodStaysShort(below: minimumPeriodNanoseconds)
    {
      return
    } else if sample.count < BeaconRule.sampleCapacity {
      sample.append(event)
    } else {
      sample[nextSample] = event
      nextSample = nextSample + 1 == BeaconRule.sampleCapacity ? 0 : nextSample + 1
    }
  }

  /// Whether the intervals' upper middle, which `intervalShape` needs at `minimumPeriod` or more,
  /// stays below it for this connection and the next `sampleCapacity` − 1 whatever their
  /// intervals: each may push out a short interval (once the ring is full) and add a long one.
  /// Then no alert can be raised while this connection is in the sample.
  private func periodStaysShort(below minimumPeriod: Int64) -> Bool {
    guard minimumPeriod > 0 else { return false }
    let count = intervals.count
    let short = intervals.withSorted { sorted in
      var (low, high) = (0, sorted.count)
      while low < high {
        let middle = (low + high) / 2
        if Int64(sorted[middle]) * 1_000_000 < minimumPeriod { low = middle + 1 } else { high = middle }
      }
      return low
    }
    let ahead = BeaconRule.sampleCapacity - 1
    let pushedOut = max(0, count + ahead - BeaconRule.intervalCapacity)
    return short - pushedOut > min(BeaconRule.intervalCapacity, count + ahead) / 2
  }

  /// As a new history, keeping the sample's storage (a group the LRU evicted leaves it to the next).
  func reset() {
    connections = 0
    lastTime = nil
    intervals = SortedRing()
    sizes = SortedRing()
    sample.removeAll(keepingCapacity: true)
    nextSample = 0
  }

  /// The sampled events, oldest first.
  var events: [SensorEvent] { Array(sample[nextSample...] + sample[..<nextSample]) }

  /// The score when the group has enough connections and a period at least the rule's minimum.
  /// Alerts of a group that keeps beaconing are folded by the rule's suppression (counted there).
  func score(for rule: BeaconRule) -> BeaconScore? {
    intervalShape(for: rule).map(score(intervals:))
  }

  /// The intervals' shape when the group has enough connections and a period at least the rule's
  /// minimum, else nil (no score).
  func intervalShape(for rule: BeaconRule) -> BeaconScore.Shape? {
    guard connections >= rule.minimumConnections, intervals.count >= BeaconRule.leastConnections - 1 else {
      return nil
    }
    return intervals.withSorted { sorted in
      // Cheap before the rest: the upper middle value bounds the median from above.
      guard Int64(sorted[sorted.count / 2]) * 1_000_000 >= rule.minimumPeriodNanoseconds else { return nil }
      let shape = BeaconScore.shape(sorted)
      guard shape.median * 1_000_000 >= Double(rule.minimumPeriodNanoseconds) else { return nil }
      return shape
    }
  }

  /// Sizes count only when most connections had a volume (end events), else intervals alone.
  private var sizesCount: Bool { sizes.count * 2 >= intervals.count }

  func score(intervals shape: BeaconScore.Shape) -> BeaconScore {
    let withSizes = sizesCount
    return sizes.withSorted {
      BeaconScore(intervals: shape, sortedSizes: withSizes ? $0 : UnsafeBufferPointer(rebasing: $0[..<0]))
    }
  }

  /// At most the score: enough to know that a group reaches the rule's minimum without its sizes.
  func leastScore(intervals shape: BeaconScore.Shape) -> Double {
    BeaconScore.leastScore(intervals: shape, withSizes: sizesCount)
  }
}

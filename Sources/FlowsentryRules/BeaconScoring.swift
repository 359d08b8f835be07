/// How periodic a series of intervals (and sizes) is, from 0 (random) to 1 (a metronome).
///
/// Two measures of the intervals, each turned into a score from 0 to 1, averaged:
/// - symmetry: Bowley's quartile skewness, (Q3 + Q1 − 2·Q2) / (Q3 − Q1), is 0 for a symmetric
///   distribution and ±1 when one side collapses onto the median; the score is 1 − |skewness|
///   (Q3 = Q1, every interval alike, scores 1);
/// - dispersion: the median absolute deviation from the median (MAD) relative to the median;
///   the score is 1 − 1.5·MAD/median, at least 0, so ±20% uniform jitter (MAD/median ≈ 0.1) keeps
///   0.85 and exponential intervals (MAD/median ≈ 0.7) score 0.
/// When sizes are known the same two measures of the sizes form a third score, weighted half as
/// much as each interval one: a beacon's requests are alike, but its answers may carry tasks.
///
/// Computed from values kept sorted (`SortedRing`): the quartiles are read off, the MAD is merged
/// from both sides of the median; nothing is sorted or allocated per event.
struct BeaconScore: Equatable {
  var score: Double
  /// The median interval: the period.
  var periodMilliseconds: Double
  /// The intervals' MAD: the jitter.
  var jitterMilliseconds: Double
  var skewness: Double

  /// `intervals` and `sizes` sorted ascending; `sizes` empty when not known.
  init(sortedIntervals intervals: [UInt32], sortedSizes sizes: [UInt32]) {
    self.init(intervals: Self.shape(intervals), sortedSizes: sizes)
  }

  /// From the intervals' shape (`shape` of the sorted intervals) and the sorted sizes.
  init(intervals shape: Shape, sortedSizes sizes: [UInt32]) {
    periodMilliseconds = shape.median
    jitterMilliseconds = shape.mad
    skewness = shape.skewness
    let symmetry = Self.symmetryScore(shape)
    let dispersion = Self.dispersionScore(shape)
    guard !sizes.isEmpty else {
      score = (symmetry + dispersion) / 2
      return
    }
    let sizeShape = Self.shape(sizes)
    let sizeScore = (Self.symmetryScore(sizeShape) + Self.dispersionScore(sizeShape)) / 2
    score = (2 * symmetry + 2 * dispersion + sizeScore) / 5
  }

  /// The least score intervals of this shape can have whatever the sizes (each size score is
  /// from 0 to 1): the score itself without sizes, else the score's sum with a size score of 0,
  /// which rounding keeps at or below the sum with any size score.
  static func leastScore(intervals shape: Shape, withSizes: Bool) -> Double {
    let symmetry = symmetryScore(shape)
    let dispersion = dispersionScore(shape)
    return withSizes ? (2 * symmetry + 2 * dispersion + 0) / 5 : (symmetry + dispersion) / 2
  }

  /// Skewness within ±0.2 scores 1; past it the penalty is scaled by how wide the quartiles are
  /// against the median (full from an interquartile range of half the median): a dozen samples of
  /// tight jitter can show any skewness, and are periodic whatever their shape.
  private static func symmetryScore(_ shape: Shape) -> Double {
    let width = shape.median > 0 ? min(1, shape.interquartileRange / (shape.median / 2)) : 1
    return 1 - max(0, abs(shape.skewness) - 0.2) / 0.8 * width
  }

  private static func dispersionScore(_ shape: Shape) -> Double {
    guard shape.median > 0 else { return shape.mad == 0 ? 1 : 0 }
    return max(0, 1 - 1.5 * shape.mad / shape.median)
  }

  typealias Shape = (median: Double, mad: Double, skewness: Double, interquartileRange: Double)

  /// Median, median absolute deviation, Bowley skewness and interquartile range of sorted values.
  static func shape(_ sorted: [UInt32]) -> Shape {
    guard !sorted.isEmpty else { return (0, 0, 0, 0) }
    let q1 = quantile(sorted.count, 0.25) { Double(sorted[$0]) }
    let median = quantile(sorted.count, 0.5) { Double(sorted[$0]) }
    let q3 = quantile(sorted.count, 0.75) { Double(sorted[$0]) }
    let spread = q3 - q1
    let skewness = spread > 0 ? (q3 + q1 - 2 * median) / spread : 0
    return (median, medianDeviation(sorted, from: median), skewness, spread)
  }

  /// The median of |value − median|: the deviations below the median grow leftwards from it and
  /// those above rightwards, two sorted runs merged up to the middle rank.
  private static func medianDeviation(_ sorted: [UInt32], from median: Double) -> Double {
    let count = sorted.count
    let position = 0.5 * Double(count - 1)
    let lowerRank = Int(position.rounded(.down))
    let upperRank = min(lowerRank + 1, count - 1)
    var above = sorted.partitionPoint { Double($0) >= median }
    var below = above - 1
    var lower = 0.0
    var upper = 0.0
    for rank in 0...upperRank {
      let deviation: Double
      let left = below >= 0 ? median - Double(sorted[below]) : .infinity
      let right = above < count ? Double(sorted[above]) - median : .infinity
      if left <= right {
        deviation = left
        below -= 1
      } else {
        deviation = right
        above += 1
      }
      if rank == lowerRank { lower = deviation }
      upper = deviation
    }
    return lower + (upper - lower) * (position - Double(lowerRank))
  }

  /// The `p` quantile of `count` sorted values read by `value`, interpolating linearly between
  /// the two nearest ranks.
  static func quantile(_ count: Int, _ p: Double, _ value: (Int) -> Double) -> Double {
    let position = p * Double(count - 1)
    let lower = Int(position.rounded(.down))
    let upper = min(lower + 1, count - 1)
    return value(lower) + (value(upper) - value(lower)) * (position - Double(lower))
  }
}

/// The last `capacity` values in arrival order, and the same values sorted, kept both at each
/// append (a binary search and a move of at most `capacity` elements).
struct SortedRing {
  private(set) var sorted: [UInt32] = []
  private var ring: [UInt32] = []
  private var next = 0

  var count: Int { ring.count }

  mutating func append(_ value: UInt32, capacity: Int) {
    guard ring.count == capacity else {
      if ring.isEmpty {
        ring.reserveCapacity(capacity)
        sorted.reserveCapacity(capacity)
      }
      ring.append(value)
      sorted.insert(value, at: sorted.partitionPoint { $0 > value })
      return
    }
    let leaving = ring[next]
    ring[next] = value
    next = (next + 1) % capacity
    // One move of the values between where the old one leaves and where the new one goes.
    let from = sorted.partitionPoint { $0 >= leaving }
    let to = sorted.partitionPoint { $0 > value }
    sorted.withUnsafeMutableBufferPointer { values in
      if to > from {
        for index in from..<(to - 1) { values[index] = values[index + 1] }
        values[to - 1] = value
      } else {
        for index in stride(from: from, to: to, by: -1) { values[index] = values[index - 1] }
        values[to] = value
      }
    }
  }
}

fileprivate extension Array {
  /// The first index whose element satisfies `predicate`, which must be false then true along the array.
  func partitionPoint(_ predicate: (Element) -> Bool) -> Int {
    var low = 0
    var high = count
    while low < high {
      let middle = (low + high) / 2
      if predicate(self[middle]) { high = middle } else { low = middle + 1 }
    }
    return low
  }
}

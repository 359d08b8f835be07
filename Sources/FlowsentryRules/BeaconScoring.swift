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
    self = sizes.withUnsafeBufferPointer { BeaconScore(intervals: shape, sortedSizes: $0) }
  }

  init(intervals shape: Shape, sortedSizes sizes: UnsafeBufferPointer<UInt32>) {
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
    sorted.withUnsafeBufferPointer { shape($0) }
  }

  static func shape(_ sorted: UnsafeBufferPointer<UInt32>) -> Shape {
    guard !sorted.isEmpty else { return (0, 0, 0, 0) }
    let q1 = quantile(sorted.count, 0.25) { Double(sorted[$0]) }
    let median = quantile(sorted.count, 0.5) { Double(sorted[$0]) }
    let q3 = quantile(sorted.count, 0.75) { Double(sorted[$0]) }
    let spread = q3 - q1
    let skewness = spread > 0 ? (q3 + q1 - 2 * median) / spread : 0
    return (median, medianDeviation(sorted, from: median), skewness, spread)
  }

  /// The median of |value − median|: the deviations below the median grow leftwards from it and
  /// those above rightwards, two sorted runs whose middle rank is found by a binary search on how
  /// many of it come from the left run. In halves, as integers: the median of integers is a whole
  /// or a half, so every deviation is exact.
  private static func medianDeviation(_ sorted: UnsafeBufferPointer<UInt32>, from median: Double) -> Double {
    let count = sorted.count
    let twiceMedian = Int64(median * 2)
    // The first value at or above the median: the middle ranks bound it.
    var above = (count - 1) / 2
    while above > 0, Int64(sorted[above - 1]) * 2 >= twiceMedian { above -= 1 }
    while above < count, Int64(sorted[above]) * 2 < twiceMedian { above += 1 }
    let leftCount = above
    let rightCount = count - above
    func left(_ index: Int) -> Int64 { twiceMedian - Int64(sorted[above - 1 - index]) * 2 }
    func right(_ index: Int) -> Int64 { Int64(sorted[above + index]) * 2 - twiceMedian }
    // The lower middle rank's deviation is the largest of the first `taken` deviations merged:
    // `fromLeft` of them from the left run, the rest from the right, the least `fromLeft` for
    // which the right run's last taken is no larger than the left run's first not taken.
    let taken = (count - 1) / 2 + 1
    var low = max(0, taken - rightCount)
    var high = min(taken, leftCount)
    while low < high {
      let fromLeft = (low + high) / 2
      let fromRight = taken - fromLeft
      if fromRight > 0, fromLeft < leftCount, right(fromRight - 1) > left(fromLeft) {
        low = fromLeft + 1
      } else {
        high = fromLeft
      }
    }
    let fromLeft = low
    let fromRight = taken - fromLeft
    let lower = max(fromLeft > 0 ? left(fromLeft - 1) : .min, fromRight > 0 ? right(fromRight - 1) : .min)
    guard count % 2 == 0 else { return Double(lower) / 2 }
    // An even count: halfway to the next deviation, the least of the two runs' next ones.
    let upper = min(fromLeft < leftCount ? left(fromLeft) : .max, fromRight < rightCount ? right(fromRight) : .max)
    return Double(lower + upper) / 4
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

/// The last `capacity` values (at most `storage`) in arrival order, and the same values sorted,
/// kept both at each append (a binary search and a move of at most `capacity` elements). Stored
/// inline: a history holding two is one allocation, and no append checks an array's uniqueness.
struct SortedRing {
  static let storage = 32
  private var ring = InlineArray<32, UInt32>(repeating: 0)
  private var ordered = InlineArray<32, UInt32>(repeating: 0)
  private(set) var count = 0
  private var next = 0

  /// The values sorted ascending (a copy: for tests; the scoring reads them in place).
  var sorted: [UInt32] { (0..<count).map { ordered[$0] } }

  /// The sorted values read in place. Mutating, so that a ring stored in a class is not copied
  /// out of it for the call.
  mutating func withSorted<Result>(_ body: (UnsafeBufferPointer<UInt32>) -> Result) -> Result {
    let count = self.count
    var span = ordered.mutableSpan
    return span.withUnsafeMutableBufferPointer { body(UnsafeBufferPointer(rebasing: $0[..<count])) }
  }

  mutating func append(_ value: UInt32, capacity: Int) {
    precondition(capacity > 0 && capacity <= Self.storage, "a sorted ring holds 1 to \(Self.storage) values")
    let count = self.count
    guard count == capacity else {
      ring[count] = value
      var span = ordered.mutableSpan
      span.withUnsafeMutableBufferPointer { values in
        var index = count
        while index > 0, values[index - 1] > value {
          values[index] = values[index - 1]
          index -= 1
        }
        values[index] = value
      }
      self.count = count + 1
      return
    }
    let leaving = ring[next]
    ring[next] = value
    next = next + 1 == capacity ? 0 : next + 1
    guard leaving != value else { return }
    var span = ordered.mutableSpan
    span.withUnsafeMutableBufferPointer { values in
      // Where the leaving value sits (any of its copies), then a shift towards it until the new
      // value's place: one pass over the elements between the two.
      var low = 0
      var high = count
      while low < high {
        let middle = (low + high) / 2
        if values[middle] >= leaving { high = middle } else { low = middle + 1 }
      }
      var index = low
      if value > leaving {
        while index + 1 < count, values[index + 1] < value {
          values[index] = values[index + 1]
          index += 1
        }
      } else {
        while index > 0, values[index - 1] > value {
          values[index] = values[index - 1]
          index -= 1
        }
      }
      values[index] = value
    }
  }
}

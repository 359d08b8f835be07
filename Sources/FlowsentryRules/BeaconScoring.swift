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
struct BeaconScore: Equatable {
  var score: Double
  /// The median interval: the period.
  var periodMilliseconds: Double
  /// The intervals' MAD: the jitter.
  var jitterMilliseconds: Double
  var skewness: Double

  init(intervals: [UInt32], sizes: [UInt32]) {
    let sorted = intervals.map(Double.init).sorted()
    let shape = Self.shape(sorted)
    periodMilliseconds = shape.median
    jitterMilliseconds = shape.mad
    skewness = shape.skewness
    let symmetry = Self.symmetryScore(shape)
    let dispersion = Self.dispersionScore(shape)
    guard !sizes.isEmpty else {
      score = (symmetry + dispersion) / 2
      return
    }
    let sizeShape = Self.shape(sizes.map(Double.init).sorted())
    let sizeScore = (Self.symmetryScore(sizeShape) + Self.dispersionScore(sizeShape)) / 2
    score = (2 * symmetry + 2 * dispersion + sizeScore) / 5
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
  static func shape(_ sorted: [Double]) -> Shape {
    guard !sorted.isEmpty else { return (0, 0, 0, 0) }
    let q1 = quantile(sorted, 0.25)
    let median = quantile(sorted, 0.5)
    let q3 = quantile(sorted, 0.75)
    let spread = q3 - q1
    let skewness = spread > 0 ? (q3 + q1 - 2 * median) / spread : 0
    let mad = quantile(sorted.map { abs($0 - median) }.sorted(), 0.5)
    return (median, mad, skewness, spread)
  }

  /// The `p` quantile of sorted values, interpolating linearly between the two nearest ranks.
  static func quantile(_ sorted: [Double], _ p: Double) -> Double {
    let position = p * Double(sorted.count - 1)
    let lower = Int(position.rounded(.down))
    let upper = min(lower + 1, sorted.count - 1)
    return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
  }
}

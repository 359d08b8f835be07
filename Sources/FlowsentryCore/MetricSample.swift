/// One row of the sensor's counter table. Every stage describes its counters this way (name, help,
/// kind, labels), and everything that shows counters is generated from the rows: the exit line and
/// `--stats-interval` logs, `/metrics`, and `flowsentry status`.
public struct MetricSample: Sendable {
  public enum Kind: Sendable {
    case counter, gauge
    case histogram(LatencyHistogram)
  }

  /// The Prometheus name (`flowsentry_…_total` for counters).
  public var name: String
  public var help: String
  public var kind: Kind
  public var labels: [(String, String)]
  public var value: Double
  /// Left out of the human summaries while zero (rows by rule, many of them idle).
  public var quietWhenZero = false
  /// Left out of the human summaries always: an info row, whose labels are what it says and whose
  /// value is always 1, reads as noise in a table; they say the same in words where it is wanted.
  public var onlyOnMetrics = false

  public init(_ name: String, _ kind: Kind, _ value: Double, labels: [(String, String)] = [], help: String) {
    self.name = name
    self.kind = kind
    self.value = value
    self.labels = labels
    self.help = help
  }

  public static func counter(_ name: String, _ value: UInt64, _ labels: [(String, String)] = [], help: String)
    -> MetricSample
  {
    MetricSample(name, .counter, Double(value), labels: labels, help: help)
  }

  public static func gauge(_ name: String, _ value: Int, _ labels: [(String, String)] = [], help: String)
    -> MetricSample
  {
    MetricSample(name, .gauge, Double(value), labels: labels, help: help)
  }

  public static func histogram(
    _ name: String, _ histogram: LatencyHistogram, _ labels: [(String, String)] = [], help: String
  ) -> MetricSample {
    MetricSample(name, .histogram(histogram), histogram.sum, labels: labels, help: help)
  }

  /// The name people read: without the `flowsentry_` prefix and the `_total` suffix.
  public var shortName: String {
    var name = Substring(name)
    if name.hasPrefix("flowsentry_") { name = name.dropFirst("flowsentry_".count) }
    if name.hasSuffix("_total") { name = name.dropLast("_total".count) }
    return String(name)
  }
}

/// Durations in fixed buckets (seconds), as a Prometheus histogram keeps them: bounded memory
/// whatever the number of observations.
public struct LatencyHistogram: Sendable, Equatable {
  /// Upper bounds, in seconds; a last bucket (+Inf) takes the rest.
  public static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

  /// Per bucket (not cumulative), the last one for what exceeds every bound.
  public private(set) var counts = [UInt64](repeating: 0, count: bounds.count + 1)
  public private(set) var sum = 0.0
  public private(set) var count: UInt64 = 0

  public init() {}

  public mutating func observe(seconds: Double) {
    let bucket = Self.bounds.firstIndex { seconds <= $0 } ?? Self.bounds.count
    counts[bucket] += 1
    sum += seconds
    count += 1
  }

  /// The bound of the bucket holding the given quantile (0…1): an upper estimate, as
  /// Prometheus' `histogram_quantile` reads buckets. Nil without observations.
  public func quantileBound(_ quantile: Double) -> Double? {
    guard count > 0 else { return nil }
    let rank = UInt64((quantile * Double(count)).rounded(.up))
    var seen: UInt64 = 0
    for (index, bucketCount) in counts.enumerated() {
      seen += bucketCount
      if seen >= max(rank, 1) { return index < Self.bounds.count ? Self.bounds[index] : .infinity }
    }
    return .infinity
  }
}

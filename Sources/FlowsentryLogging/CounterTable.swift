import FlowsentryCore
import Logging

/// The counter table as log metadata: what the exit record, `--stats-interval` and `flowsentry
/// status` print, from the same rows as `/metrics`. A family is keyed by its short name; its rows
/// nest by their label values (`drops{queue=0 ring_buffer=0}`), and a family without labels is a
/// plain value (`records=6`).
public enum CounterTable {
  public static func metadata(_ samples: [MetricSample]) -> Logger.Metadata {
    var families: [String: Logger.Metadata.Value] = [:]
    for sample in samples where !sample.onlyOnMetrics {
      let key = sample.shortName
      if families[key] == nil {
        families[key] = sample.labels.isEmpty ? value(of: sample) : .dictionary([:])
      }
      guard !sample.labels.isEmpty, !(sample.quietWhenZero && sample.value == 0 && !isHistogram(sample)) else {
        continue
      }
      families[key] = inserting(value(of: sample), at: sample.labels.map(\.1)[...], into: families[key]!)
    }
    // A family with labels stays an object when every row is quiet and zero (`{}`, text `name{}`):
    // a 0 there would make a JSON consumer read a number in one record and an object in the next.
    return families
  }

  /// One family per line, `key=value` / `key{…}`: the same text as the log's.
  public static func lines(_ samples: [MetricSample]) -> [String] {
    let table = metadata(samples)
    return table.keys.sorted().map { SensorLogHandler.text(key: $0, table[$0]!) }
  }

  private static func isHistogram(_ sample: MetricSample) -> Bool {
    if case .histogram = sample.kind { return true }
    return false
  }

  private static func value(of sample: MetricSample) -> Logger.Metadata.Value {
    if case .histogram(let histogram) = sample.kind {
      var summary: Logger.Metadata = ["count": .stringConvertible(histogram.count)]
      if histogram.count > 0 {
        summary["mean"] = .stringConvertible(rounded(histogram.sum / Double(histogram.count)))
        if let bound = histogram.quantileBound(0.99) {
          summary["p99_at_most"] = bound.isFinite ? .stringConvertible(bound) : "inf"
        }
      }
      return .dictionary(summary)
    }
    if sample.value == sample.value.rounded(), abs(sample.value) < 1e18 {
      return .stringConvertible(Int64(sample.value))
    }
    return .stringConvertible(rounded(sample.value))
  }

  private static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

  private static func inserting(
    _ value: Logger.Metadata.Value, at path: ArraySlice<String>, into node: Logger.Metadata.Value
  ) -> Logger.Metadata.Value {
    guard let first = path.first else { return value }
    guard case .dictionary(var rows) = node else { return node }
    rows[first] = inserting(value, at: path.dropFirst(), into: rows[first] ?? .dictionary([:]))
    return .dictionary(rows)
  }
}

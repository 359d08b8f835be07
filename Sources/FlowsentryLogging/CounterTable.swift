import FlowsentryCore
import Logging

/// The counter table as log metadata: what the exit record, `--stats-interval` and `flowsentry
/// status` print, from the same rows as `/metrics`. A family is keyed by its short name; its rows
/// nest by their label values (`drops{queue=0 ring_buffer=0}`), and a family without labels is a
/// plain value (`records=6`). Rows marked quiet are left out while zero, and a family shows at most
/// `maximumRows` rows: those of the largest values, the rest as one row `… and N more` holding their
/// sum (so a family's rows still add up to its total; `/metrics` has every row).
public enum CounterTable {
  /// With thousands of rules a family of per-rule rows made a `status` line of 60,000 characters
  /// (and a record past what a log shipper takes); 20 rows are the ones a person reads anyway.
  public static let maximumRows = 20

  public static func metadata(_ samples: [MetricSample], maximumRows: Int = maximumRows) -> Logger.Metadata {
    var families: [String: Logger.Metadata.Value] = [:]
    var rows: [String: [MetricSample]] = [:]
    var order: [String] = []
    for sample in samples where !sample.onlyOnMetrics {
      let key = sample.shortName
      if families[key] == nil {
        families[key] = sample.labels.isEmpty ? value(of: sample) : .dictionary([:])
        order.append(key)
      }
      guard !sample.labels.isEmpty, !(sample.quietWhenZero && sample.value == 0 && !isHistogram(sample)) else {
        continue
      }
      rows[key, default: []].append(sample)
    }
    for key in order {
      guard var shown = rows[key] else { continue }
      var leftOut: [MetricSample] = []
      // Histograms' rows are summaries, not values to rank or add; they are few (one an output).
      if shown.count > maximumRows, !shown.contains(where: isHistogram) {
        // Largest first, ties in label order: the same rows in every record while the values hold.
        let ranked = shown.sorted {
          $0.value != $1.value ? $0.value > $1.value : $0.labels.map(\.1).lexicographicallyPrecedes($1.labels.map(\.1))
        }
        shown = Array(ranked.prefix(maximumRows))
        leftOut = Array(ranked.dropFirst(maximumRows))
      }
      for sample in shown {
        families[key] = inserting(value(of: sample), at: sample.labels.map(\.1)[...], into: families[key]!)
      }
      if !leftOut.isEmpty, case .dictionary(var nested) = families[key]! {
        var sum = MetricSample(leftOut[0].name, leftOut[0].kind, 0, help: "")
        sum.value = leftOut.reduce(0) { $0 + $1.value }
        nested["… and \(leftOut.count) more"] = value(of: sum)
        families[key] = .dictionary(nested)
      }
    }
    // A family with labels stays an object when every row is quiet and zero (`{}`, text `name{}`):
    // a 0 there would make a JSON consumer read a number in one record and an object in the next.
    return families
  }

  /// One family per line, `key=value` / `key{…}`: the same text as the log's.
  public static func lines(_ samples: [MetricSample], maximumRows: Int = maximumRows) -> [String] {
    let table = metadata(samples, maximumRows: maximumRows)
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

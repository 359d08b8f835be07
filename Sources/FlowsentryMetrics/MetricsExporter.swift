import Foundation
import Prometheus
import Synchronization

/// One row of the sensor's counter table: what `/metrics` exposes and `status` reads back.
public struct MetricSample: Sendable {
  public enum Kind: Sendable { case counter, gauge }

  public var name: String
  public var help: String
  public var kind: Kind
  public var labels: [(String, String)]
  public var value: Double

  public init(_ name: String, _ kind: Kind, _ value: Double, labels: [(String, String)] = [], help: String) {
    self.name = name
    self.kind = kind
    self.value = value
    self.labels = labels
    self.help = help
  }
}

/// Turns the sensor's cumulative counters (snapshots taken at each scrape) into swift-prometheus
/// metrics and renders the exposition format.
public final class MetricsExporter: Sendable {
  private let registry = PrometheusCollectorRegistry()
  private let collect: @Sendable () -> [MetricSample]
  private struct Series: @unchecked Sendable {
    var counter: Counter?
    var gauge: Gauge?
    var last: Double
  }
  private let series = Mutex<[String: Series]>([:])

  public init(collect: @escaping @Sendable () -> [MetricSample]) {
    self.collect = collect
  }

  /// The current values in the Prometheus text format.
  public func render() -> [UInt8] {
    let samples = collect()
    series.withLock { series in
      for sample in samples {
        let key = sample.name + "{" + sample.labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
        switch sample.kind {
        case .gauge:
          let gauge =
            series[key]?.gauge
            ?? registry.makeGauge(name: sample.name, labels: sample.labels, help: sample.help)
          gauge.set(sample.value)
          series[key] = Series(counter: nil, gauge: gauge, last: sample.value)
        case .counter:
          let counter =
            series[key]?.counter
            ?? registry.makeCounter(name: sample.name, labels: sample.labels, help: sample.help)
          // A source that started over (rules reloaded) becomes the new baseline: a Prometheus
          // counter never goes down.
          let last = series[key]?.last ?? 0
          if sample.value > last { counter.increment(by: sample.value - last) }
          series[key] = Series(counter: counter, gauge: nil, last: sample.value)
        }
      }
    }
    return registry.emitToBuffer()
  }

  /// CPU seconds and resident memory of this process, as Prometheus' process collector names them.
  public static func processSamples() -> [MetricSample] {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let cpu =
      Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
      + Double(usage.ru_stime.tv_usec) / 1e6
    var resident = 0.0
    if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
      let pages = statm.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
    {
      resident = pages * Double(sysconf(Int32(_SC_PAGESIZE)))
    }
    return [
      MetricSample("process_cpu_seconds_total", .counter, cpu, help: "User and system CPU time spent, in seconds."),
      MetricSample("process_resident_memory_bytes", .gauge, resident, help: "Resident memory size, in bytes."),
    ]
  }
}

import FlowsentryCore
import Foundation
import Prometheus
import Synchronization

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

  /// A sample's full name as the descriptor's one part (the unit is already in the name).
  private static func descriptor(_ sample: MetricSample) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: sample.name, unitName: "", helpText: sample.help)
  }

  /// The current values in the Prometheus text format.
  public func render() -> [UInt8] {
    let samples = collect()
    var histograms: [MetricSample] = []
    series.withLock { series in
      for sample in samples {
        let key = sample.name + "{" + sample.labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
        switch sample.kind {
        case .gauge:
          let gauge =
            series[key]?.gauge
            ?? registry.makeGauge(descriptor: Self.descriptor(sample), labels: sample.labels)
          gauge.set(sample.value)
          series[key] = Series(counter: nil, gauge: gauge, last: sample.value)
        case .counter:
          let counter =
            series[key]?.counter
            ?? registry.makeCounter(descriptor: Self.descriptor(sample), labels: sample.labels)
          // A source that started over (rules reloaded) becomes the new baseline: a Prometheus
          // counter never goes down.
          let last = series[key]?.last ?? 0
          if sample.value > last { counter.increment(by: sample.value - last) }
          series[key] = Series(counter: counter, gauge: nil, last: sample.value)
        case .histogram: histograms.append(sample)
        }
      }
    }
    return registry.emitToBuffer() + Self.exposition(histograms)
  }

  /// Histograms in the text format, written here: swift-prometheus' histograms take observations
  /// one by one, and the outputs keep theirs as bucket counts (fixed memory, read at each scrape).
  static func exposition(_ samples: [MetricSample]) -> [UInt8] {
    var text = ""
    var described: Set<String> = []
    for sample in samples {
      guard case .histogram(let histogram) = sample.kind else { continue }
      if described.insert(sample.name).inserted {
        text += "# HELP \(sample.name) \(sample.help)\n# TYPE \(sample.name) histogram\n"
      }
      let labels = sample.labels.map { "\($0.0)=\"\($0.1)\"" }
      func series(_ suffix: String, _ extra: [String], _ value: String) {
        let all = labels + extra
        text += sample.name + suffix + (all.isEmpty ? "" : "{" + all.joined(separator: ",") + "}") + " " + value + "\n"
      }
      var cumulative: UInt64 = 0
      for (index, count) in histogram.counts.enumerated() {
        cumulative += count
        let bound = index < LatencyHistogram.bounds.count ? "\(LatencyHistogram.bounds[index])" : "+Inf"
        series("_bucket", ["le=\"\(bound)\""], "\(cumulative)")
      }
      series("_sum", [], "\(histogram.sum)")
      series("_count", [], "\(histogram.count)")
    }
    return Array(text.utf8)
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
      MetricSample(
        "process_start_time_seconds", .gauge, processStartTime,
        help: "When the process started (Unix time, seconds): time() minus it is its uptime."),
    ]
  }

  /// The process's start from the kernel's own record (boot time plus the start in clock ticks after
  /// it), read once: it does not change, and a restart is a new process. 0 where /proc cannot say.
  static let processStartTime: Double = {
    guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")"),
      let system = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
      let boot = system.split(separator: "\n").first(where: { $0.hasPrefix("btime ") })?.split(separator: " ").last
        .flatMap({ Double($0) })
    else { return 0 }
    // Fields after the command's closing parenthesis start at the third; the start is the 22nd.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 19, let ticks = Double(fields[19]) else { return 0 }
    return boot + ticks / Double(sysconf(Int32(_SC_CLK_TCK)))
  }()
}

import FlowsentryCore
import Synchronization
import Testing

@testable import FlowsentryMetrics

@Suite struct MetricsExporterTests {
  @Test func countersGaugesAndHistogramsRenderInTheTextFormat() {
    var histogram = LatencyHistogram()
    for seconds in [0.003, 0.004, 0.2, 400.0] { histogram.observe(seconds: seconds) }
    let observed = histogram
    let exporter = MetricsExporter {
      [
        .counter("flowsentry_records_total", 7, help: "Records."),
        .gauge("flowsentry_flows_open", 3, help: "Open flows."),
        .histogram("flowsentry_output_delivery_latency_seconds", observed, [("output", "siem")], help: "Latency."),
      ]
    }
    let lines = String(decoding: exporter.render(), as: UTF8.self).split(separator: "\n").map(String.init)
    #expect(lines.contains("flowsentry_records_total 7.0"), "\(lines)")
    #expect(lines.contains("flowsentry_flows_open 3.0"), "\(lines)")
    #expect(lines.contains("# TYPE flowsentry_output_delivery_latency_seconds histogram"))
    // Buckets are cumulative and end with +Inf, which equals the count.
    #expect(
      lines.contains(#"flowsentry_output_delivery_latency_seconds_bucket{output="siem",le="0.005"} 2"#), "\(lines)")
    #expect(lines.contains(#"flowsentry_output_delivery_latency_seconds_bucket{output="siem",le="0.25"} 3"#))
    #expect(lines.contains(#"flowsentry_output_delivery_latency_seconds_bucket{output="siem",le="300.0"} 3"#))
    #expect(lines.contains(#"flowsentry_output_delivery_latency_seconds_bucket{output="siem",le="+Inf"} 4"#))
    #expect(lines.contains(#"flowsentry_output_delivery_latency_seconds_count{output="siem"} 4"#))
    #expect(lines.filter { $0.hasPrefix("flowsentry_output_delivery_latency_seconds_bucket") }.count == 15)
  }

  @Test func aCounterThatStartsOverNeverGoesDown() {
    let value = Mutex<UInt64>(10)
    let exporter = MetricsExporter { [.counter("flowsentry_alerts_total", value.withLock { $0 }, help: "Alerts.")] }
    _ = exporter.render()
    value.withLock { $0 = 2 }  // a reload started the source over
    #expect(String(decoding: exporter.render(), as: UTF8.self).contains("flowsentry_alerts_total 10.0\n"))
    value.withLock { $0 = 5 }
    #expect(String(decoding: exporter.render(), as: UTF8.self).contains("flowsentry_alerts_total 13.0\n"))
  }
}

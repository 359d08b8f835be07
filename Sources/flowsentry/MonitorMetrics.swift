import FlowsentryCapture
import FlowsentryCore
import FlowsentryDNS
import FlowsentryFlows
import FlowsentryForwarding
import FlowsentryMetrics
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules

/// The monitor's counter table: every stage's rows, in the order data flows. `/metrics`, `status`,
/// the exit record and `--stats-interval` are all made from it.
struct MonitorMetrics {
  var pipeline: Pipeline.Counters?
  var capture: CaptureSession.Statistics
  var stdout: JSONLinesEventSink.Counters
  /// `--record`: what the file got, and how often it rotated.
  var recorded: (written: JSONLinesEventSink.Counters, rotations: UInt64)?
  var outputs: [ForwardingOutput]

  func samples() -> [MetricSample] {
    var samples = capture.samples
    samples += (pipeline?.flows ?? FlowTracker.Counters()).samples
    samples += (pipeline?.dns ?? DNSEnricher.Counters()).samples
    samples += (pipeline?.rules ?? RuleEngine.Counters()).samples(perRule: pipeline?.perRule ?? [])
    samples += stdout.samples(destination: "stdout")
    if let recorded {
      samples += recorded.written.samples(destination: "record")
      samples.append(
        .counter("flowsentry_record_rotations_total", recorded.rotations, help: "Times the --record file rotated."))
    }
    for output in outputs { samples += output.counters.samples(output: output.configuration.name) }
    return samples + MetricsExporter.processSamples()
  }
}

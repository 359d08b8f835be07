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
  var recorded: MonitorCounters.Recorded?
  var outputs: [ForwardingOutput]
  /// Reloads by cause; zero rows until the capture service hands its reloader over.
  var reloader: RuleReloader? = nil
  var batchPauses = BatchPauses()
  /// The running set's pattern sets, once built.
  var patterns: PatternPreparation? = nil

  func samples() -> [MetricSample] {
    var samples = [MetricSample.buildInfo] + capture.samples
    samples += (pipeline?.flows ?? FlowTracker.Counters()).samples
    samples += (pipeline?.dns ?? DNSEnricher.Counters()).samples
    samples += (pipeline?.rules ?? RuleEngine.Counters()).samples(perRule: pipeline?.perRule ?? [])
    samples += Self.patternSamples(patterns)
    samples += IntelListSummary.samples(pipeline?.intelLists ?? [])
    samples += reloader?.samples ?? RuleReloader.samples { _ in 0 }
    samples += batchPauses.samples
    samples += stdout.samples(destination: "stdout")
    if let recorded {
      samples += recorded.written.samples(destination: "record")
      samples += [
        .counter("flowsentry_record_rotations_total", recorded.rotations, help: "Times the --record file rotated."),
        .counter(
          "flowsentry_record_rotation_failures_total", recorded.rotationFailures,
          help: "Rotations of the --record file that could not move the older files (it grows past its size meanwhile)."
        ),
      ]
    }
    for output in outputs { samples += output.counters.samples(output: output.configuration.name) }
    return samples + MetricsExporter.processSamples()
  }
}

extension MonitorMetrics {
  /// The running set's regexes by field and evaluation (every evaluation listed for each field, so
  /// that a dashboard sees PCRE2-only patterns appear), and how long its sets took to build or load.
  static func patternSamples(_ patterns: PatternPreparation?) -> [MetricSample] {
    var samples: [MetricSample] = []
    for field in patterns?.byField ?? [] {
      for kind in field.evaluationCounts {
        var sample = MetricSample.gauge(
          "flowsentry_rule_patterns", kind.count, [("field", field.field), ("evaluation", kind.metricLabel)],
          help:
            "Distinct regexes of the running rules, by field and how they are evaluated: exact (Hyperscan's answer), confirmed and prefilter (Hyperscan's candidates, PCRE2 confirms), pcre2_only (PCRE2 on every value, tens of times the cost; `flowsentry rules check` lists them with why)."
        )
        sample.quietWhenZero = true
        samples.append(sample)
      }
    }
    let duration = patterns?.duration ?? .zero
    samples.append(
      MetricSample(
        "flowsentry_rule_pattern_build_seconds", .gauge,
        duration.inSeconds,
        help:
          "Seconds the running rules' regex pattern sets took to build (or to load from state_dir/patterns), off the pipeline, before the rules were used."
      ))
    return samples
  }
}

extension MetricSample {
  /// The build as Prometheus' info convention has it (labels the facts, value 1), so that a query
  /// can put the version beside any series of the same target, and a fleet's versions can be
  /// counted. The summaries leave it out: `status` says the version in its first line, the log in
  /// the start record.
  static let buildInfo: MetricSample = {
    var sample = MetricSample(
      "flowsentry_build_info", .gauge, 1,
      labels: [("version", FlowsentryVersion.current), ("event_schema", "\(EventJSONSchema.version)")],
      help:
        "Always 1: the running build, in its labels (version, and event_schema: the schema version of its event JSON). On /metrics only: status prints the version in its first line, the monitor's start record logs it."
    )
    sample.onlyOnMetrics = true
    return sample
  }()
}

import FlowsentryCapture
import FlowsentryCore
import FlowsentryForwarding
import FlowsentryLogging
import FlowsentryMetrics
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules
import Logging
import Synchronization

/// The counters the monitor's services publish, each its own, and read by others: `/metrics`, the
/// stats logger and the exit record all make the same table from them.
final class MonitorCounters: Sendable {
  typealias Recorded = (written: JSONLinesEventSink.Counters, rotations: UInt64, rotationFailures: UInt64)

  private let startedAt = MonotonicClock.nanoseconds()
  private let session: CaptureSession
  private let outputs: [ForwardingOutput]
  private let recording: Bool
  /// `/metrics`' own connection counters, when it is served.
  let metricsConnections: MetricsServer.Counters?
  /// The pipeline's, copied after every batch.
  let pipeline = Mutex<Pipeline.Counters?>(nil)
  let stdout = Mutex(JSONLinesEventSink.Counters())
  let recorded = Mutex<Recorded>((JSONLinesEventSink.Counters(), 0, 0))
  /// The longest batch, recorded by the capture service.
  let batchPauses = BatchPauses()
  /// Set by the capture service, which takes the sets it reloads: its reloads by cause.
  let reloader = Mutex<RuleReloader?>(nil)
  /// The running set's pattern sets, as built: set by the capture service as it swaps a set in.
  let patterns = Mutex<PatternPreparation?>(nil)

  /// `metricsConnections`: the counters of the `/metrics` server, bound before this table exists.
  init(
    session: CaptureSession, outputs: [ForwardingOutput], recording: Bool, metricsConnections: MetricsServer.Counters?
  ) {
    self.metricsConnections = metricsConnections
    self.session = session
    self.outputs = outputs
    self.recording = recording
  }

  func samples() -> [MetricSample] {
    MonitorMetrics(
      pipeline: pipeline.withLock { $0 }, capture: session.statistics, stdout: stdout.withLock { $0 },
      recorded: recording ? recorded.withLock { $0 } : nil, outputs: outputs, reloader: reloader.withLock { $0 },
      batchPauses: batchPauses, patterns: patterns.withLock { $0 }
    ).samples() + (metricsConnections?.samples ?? [])
  }

  /// The counter table as log metadata, with the time since the start.
  func metadata() -> Logger.Metadata {
    var metadata = CounterTable.metadata(samples())
    let tenths = (MonotonicClock.nanoseconds() - startedAt) / 100_000_000
    metadata["uptime_seconds"] = .stringConvertible(Double(tenths) / 10)
    return metadata
  }
}

/// What `/metrics` serves: bound before the rules load and the programs attach (so that a port
/// already taken stops the monitor before either), it serves the build and process rows until the
/// monitor's counter table exists, then the table.
final class ServedCounters: Sendable {
  private let table = Mutex<MonitorCounters?>(nil)

  func serve(_ counters: MonitorCounters) { table.withLock { $0 = counters } }

  func samples() -> [MetricSample] {
    if let counters = table.withLock({ $0 }) { return counters.samples() }
    return [MetricSample.buildInfo] + MetricsExporter.processSamples()
  }
}

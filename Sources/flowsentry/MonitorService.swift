import FlowsentryCapture
import FlowsentryCore
import FlowsentryDNS
import FlowsentryFlows
import FlowsentryForwarding
import FlowsentryLogging
import FlowsentryMetrics
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// capture → the pipeline (flow tracking → DNS enrichment → rules) → output, on one task; stops gracefully on
/// SIGINT/SIGTERM after draining what the kernel had already handed over.
final class MonitorService: Service, @unchecked Sendable {
  private let session: CaptureSession
  private let selection: Set<EventName>
  private let configuration: Pipeline.Configuration
  /// What SIGHUP reloads: the same chain the monitor started with.
  struct RuleChain: Sendable {
    var builtIn: Bool
    var paths: [String]
  }
  private let ruleChain: RuleChain
  private let initialRules: RuleSet
  /// A rule set validated after SIGHUP, waiting for the pipeline to swap it in between two batches.
  private let pendingRules = Mutex<RuleSet?>(nil)
  private let statsIntervalSeconds: Int
  private let logger: Logger
  private let startedAt = Date()
  /// Copied from the pipeline after every batch, for the summary (read by other tasks).
  private let pipelineCounters = Mutex<Pipeline.Counters?>(nil)
  private let outputCounters = Mutex(JSONLinesEventSink.Counters())
  /// `--record`: every event to a rotating file as well, for `replay` to run new rules on later.
  private let recorder: RotatingFileEventSink?
  private let recordCounters = Mutex((written: JSONLinesEventSink.Counters(), rotations: UInt64(0)))
  /// Whether stdout is one of the outputs (it is unless `--output` names others only).
  private let printsToStandardOutput: Bool
  /// The forwarding outputs, each on its own thread; stopped after the pipeline drained.
  private let outputs: [ForwardingOutput]
  /// `--metrics-address`: where `/metrics` is served, when asked for.
  private let metricsAddress: (host: String, port: Int)?

  init(
    session: CaptureSession, selection: Set<EventName>, rules: RuleSet, ruleChain: RuleChain,
    configuration: Pipeline.Configuration, recorder: RotatingFileEventSink?, printsToStandardOutput: Bool,
    outputs: [ForwardingOutput], metricsAddress: (host: String, port: Int)?, statsIntervalSeconds: Int,
    logger: Logger
  ) {
    self.metricsAddress = metricsAddress
    self.printsToStandardOutput = printsToStandardOutput
    self.outputs = outputs
    self.recorder = recorder
    self.configuration = configuration
    self.initialRules = rules
    self.ruleChain = ruleChain
    self.session = session
    self.selection = selection
    self.statsIntervalSeconds = statsIntervalSeconds
    self.logger = logger
  }

  /// The counter table, from the snapshots the pipeline task publishes.
  func metricSamples() -> [MetricSample] {
    MonitorMetrics(
      pipeline: pipelineCounters.withLock { $0 }, capture: session.statistics, stdout: outputCounters.withLock { $0 },
      recorded: recorder == nil ? nil : recordCounters.withLock { $0 }, outputs: outputs
    ).samples()
  }

  /// The counter table as log metadata, with the time since the start: the exit record and
  /// `--stats-interval`'s.
  func counterMetadata() -> Logger.Metadata {
    var metadata = CounterTable.metadata(metricSamples())
    metadata["uptime_seconds"] = .stringConvertible((Date().timeIntervalSince(startedAt) * 10).rounded() / 10)
    return metadata
  }

  func run() async throws {
    var server: MetricsServer?
    if let metricsAddress {
      server = try await MetricsServer(
        host: metricsAddress.host, port: metricsAddress.port,
        exporter: MetricsExporter { [self] in metricSamples() })
      logger.info("metrics on http://\(metricsAddress.host):\(server?.port ?? 0)/metrics")
    }
    let packets = try session.packets()
    let pipeline = Pipeline(configuration: configuration, rules: initialRules)
    // The table has every rule's rows from the start, before the first batch.
    let initial = pipeline.counters
    pipelineCounters.withLock { $0 = initial }
    let context = EventJSON.Context(hostName: hostName())
    // stdout is written on a thread of its own: a slow reader costs stdout (up to 64 MiB waiting,
    // then dropped lines, counted), never the pipeline or the forwarding outputs.
    let output = JSONLinesEventSink(context: context, backgroundCapacityBytes: 64 << 20)
    let printed = SelectingEventSink(selection: printsToStandardOutput ? selection : [], output)
    var others: [any EventSink] = []
    if let recorder { others.append(recorder) }
    if !outputs.isEmpty { others.append(OutputRouter(outputs: outputs, context: context, processID: getpid())) }
    if others.isEmpty && printsToStandardOutput {
      await consume(packets, pipeline, printed, output)
    } else {
      await consume(packets, pipeline, MultiplexEventSink((printsToStandardOutput ? [printed] : []) + others), output)
    }
    session.stop()
    // The pipeline has drained: stdout writes what it holds, each output delivers or spools it.
    // The pipeline task is done with the sink: handing it to the finishing thread is safe.
    nonisolated(unsafe) let finishing = output
    await runOffThePool { finishing.finish() }
    await ForwardingOutput.stopAll(outputs)
    let written = output.counters
    outputCounters.withLock { $0 = written }
    await server?.stop()
  }

  /// The pipeline task: batches in, events and alerts out to `sink`, counters copied per batch.
  private func consume<Sink: EventSink>(
    _ packets: AsyncStream<[CapturedRecord]>, _ pipeline: Pipeline, _ sink: Sink,
    _ output: JSONLinesEventSink
  ) async {
    await withTaskGroup(of: Void.self) { group in
      group.addTask { [self] in await reloadRulesOnHangup() }
      if statsIntervalSeconds > 0 {
        group.addTask { [self] in
          while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(statsIntervalSeconds))
            if !Task.isCancelled { logger.info("counters", metadata: counterMetadata()) }
          }
        }
      }
      await withGracefulShutdownHandler {
        for await batch in packets {
          if let replacement = pendingRules.withLock({ pending in pending.take() }) {
            pipeline.replaceRules(replacement)
          }
          for record in batch { pipeline.process(record, to: sink) }
          sink.flush()
          let counters = pipeline.counters
          pipelineCounters.withLock { $0 = counters }
          let written = output.counters
          outputCounters.withLock { $0 = written }
          if let recorder {
            let recorded = (recorder.counters, recorder.rotations)
            recordCounters.withLock { $0 = recorded }
          }
        }
      } onGracefulShutdown: { [session] in
        session.stop()
      }
      group.cancelAll()
    }
  }

  /// SIGHUP: load the rules again; swap them in only when they validate, else keep the running set.
  private func reloadRulesOnHangup() async {
    for await _ in await UnixSignalsSequence(trapping: .sighup) {
      do {
        let rules = try RuleLoader.loadChain(builtIn: ruleChain.builtIn, paths: ruleChain.paths)
        for warning in rules.warnings { logger.warning("\(warning)") }
        pendingRules.withLock { $0 = rules }
        // Swapped in before the next batch of packets: no event sees half of each set.
        logger.info("rules reloaded: \(rules.rules.filter(\.enabled).count) enabled")
      } catch {
        for diagnostic in error.diagnostics { logger.error("\(diagnostic)") }
        logger.error("the new rules do not validate; keeping the current ones")
      }
    }
  }
}

func hostName() -> String {
  var buffer = [CChar](repeating: 0, count: 256)
  guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
  return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

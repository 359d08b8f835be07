import FlowsentryCapture
import FlowsentryCore
import FlowsentryDNS
import FlowsentryFlows
import FlowsentryForwarding
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
  private let alertsByRule = Mutex<[String: Int]>([:])

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

  /// The counters as metric samples, from the snapshots the pipeline task publishes.
  func metricSamples() -> [MetricSample] {
    MonitorMetrics(
      pipeline: pipelineCounters.withLock { $0 }, capture: session.statistics, stdout: outputCounters.withLock { $0 },
      alertsByRule: alertsByRule.withLock { $0 }, outputs: outputs
    ).samples()
  }

  func run() async throws {
    var server: MetricsServer?
    if let metricsAddress {
      server = try await MetricsServer(
        host: metricsAddress.host, port: metricsAddress.port,
        exporter: MetricsExporter { [self] in metricSamples() })
      standardError("flowsentry: metrics on http://\(metricsAddress.host):\(server?.port ?? 0)/metrics")
    }
    let packets = try session.packets()
    let pipeline = Pipeline(configuration: configuration, rules: initialRules)
    let context = EventJSON.Context(hostName: hostName())
    // stdout is written on a thread of its own: a slow reader costs stdout (up to 64 MiB waiting,
    // then dropped lines, counted), never the pipeline or the forwarding outputs.
    let output = JSONLinesEventSink(context: context, backgroundCapacityBytes: 64 << 20)
    let printed = SelectingEventSink(selection: printsToStandardOutput ? selection : [], output)
    var others: [any EventSink] = []
    if let recorder { others.append(recorder) }
    if !outputs.isEmpty { others.append(OutputRouter(outputs: outputs, context: context, processID: getpid())) }
    if others.isEmpty && printsToStandardOutput {
      await consume(packets, pipeline, AlertCountingSink(printed), output)
    } else {
      await consume(
        packets, pipeline,
        AlertCountingSink(MultiplexEventSink((printsToStandardOutput ? [printed] : []) + others)), output)
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
  private func consume<Inner: EventSink>(
    _ packets: AsyncStream<[CapturedRecord]>, _ pipeline: Pipeline, _ sink: AlertCountingSink<Inner>,
    _ output: JSONLinesEventSink
  ) async {
    await withTaskGroup(of: Void.self) { group in
      group.addTask { [self] in await reloadRulesOnHangup() }
      if statsIntervalSeconds > 0 {
        group.addTask { [self] in
          while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(statsIntervalSeconds))
            if !Task.isCancelled { standardError("flowsentry: " + summary()) }
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
          let byRule = sink.alertsByRule
          alertsByRule.withLock { $0 = byRule }
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
        for warning in rules.warnings { standardError(warning.description) }
        pendingRules.withLock { $0 = rules }
        // Swapped in before the next batch of packets: no event sees half of each set.
        standardError("flowsentry: rules reloaded: \(rules.rules.filter(\.enabled).count) enabled")
      } catch {
        for diagnostic in error.diagnostics { standardError(diagnostic.description) }
        standardError("flowsentry: the new rules do not validate; keeping the current ones")
      }
    }
  }

  func summary() -> String {
    let counters = pipelineCounters.withLock { $0 }
    let flows = counters?.flows ?? FlowTracker.Counters()
    let dns = counters?.dns ?? DNSEnricher.Counters()
    let rules = counters?.rules ?? RuleEngine.Counters()
    let limitHits = (counters?.regexLimitHits ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
    let output = outputCounters.withLock { $0 }
    let capture = session.statistics
    let kernel = capture.kernel
    let seconds = String(format: "%.1f", Date().timeIntervalSince(startedAt))
    return "\(seconds)s: events printed \(output.eventsWritten), alerts printed \(output.alertsWritten) "
      + "(lost to failed writes: events \(output.eventsLost), alerts \(output.alertsLost), "
      + "failed writes \(output.failedWrites), dropped for a slow reader \(output.droppedForSlowReader)) "
      + (recorder.map { recorder in
        let recorded = recordCounters.withLock { $0 }
        return "(recorded to \(recorder.path): events \(recorded.written.eventsWritten), "
          + "lost \(recorded.written.eventsLost), rotations \(recorded.rotations)) "
      } ?? "")
      + "(begin \(flows.beginEvents), end \(flows.endEvents), ends without begin \(flows.endsWithoutBegin)); "
      + "records \(capture.records); drops: kernel ring buffer \(capture.kernelDrops) (ends \(kernel.endsLost)), "
      + "queue \(capture.queueDrops) (ends \(capture.queueDroppedEnds)), malformed \(capture.malformedRecords); "
      + "ignored by the kernel: unexpected syn-ack \(kernel.unexpectedSYNACKs), "
      + "fin/rst out of sequence \(kernel.untrackedOutOfSequence), fin/rst without socket \(kernel.noSocket), "
      + "short packets \(kernel.shortPackets), ipv4 fragments \(kernel.ipv4Fragments), "
      + "ipv6 unparsed \(kernel.ipv6Unparsed), not ip \(kernel.notIP), no socket storage \(kernel.noStorage); "
      + "incoming syns \(kernel.incomingSYNs), half-open \(capture.halfOpenAttempts); "
      + "flows open \(flows.openFlows), evicted \(flows.evictedOpenFlows); "
      + "repeats ignored: handshakes \(flows.repeatedHandshakes), terminations \(flows.repeatedTerminations); "
      + "dns: messages \(dns.messages), malformed \(dns.malformed), incomplete \(dns.incomplete), "
      + "questions \(dns.questions), answered \(dns.answered), unsolicited \(dns.unsolicited), late \(dns.late), "
      + "questions evicted \(dns.questionsEvicted), served \(dns.served), "
      + "cut by capture \(capture.dnsMessagesCut), cache entries \(dns.cache.entries), hits \(dns.cache.hits), "
      + "misses \(dns.cache.misses), expired \(dns.cache.expired), evictions \(dns.cache.evictions); "
      + "rules: matches \(rules.matches), alerts \(rules.alerts), suppressed \(rules.suppressed), "
      + "group evictions \(rules.groupEvictions), "
      + "regex limits hit \(limitHits.isEmpty ? "0" : limitHits.joined(separator: ", "))"
      + outputs.map { "; " + $0.summary }.joined()
  }
}

func hostName() -> String {
  var buffer = [CChar](repeating: 0, count: 256)
  guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
  return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

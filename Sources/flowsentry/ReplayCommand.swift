import ArgumentParser
import FlowsentryCore
import FlowsentryForwarding
import FlowsentryOutput
import FlowsentryPackets
import FlowsentryPipeline
import FlowsentryReplay
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

struct ReplayCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "replay",
    abstract: "Run capture files (pcap, pcapng) or recordings (monitor --record) through the pipeline, without root.",
    discussion: """
      The same flow tracking, DNS naming and rules as monitor, in packet time (windows, TTLs and \
      durations use the capture's timestamps). Events and alerts go to stdout as JSON lines; a summary \
      and, for long files, progress go to stderr.
      """
  )

  @OptionGroup var common: CommonOptions
  @OptionGroup var pipeline: PipelineOptions
  @OptionGroup var output: OutputOptions

  @Option(
    help: """
      Local addresses and networks, comma-separated (e.g. 198.51.100.0/24,2001:db8::/32): flows are \
      reported from their side. Default: the private address spaces (RFC 1918, RFC 4193, loopback, \
      link-local).
      """)
  var local: String?

  @Argument(
    help: "Capture files or recordings (recognised by their content), replayed in order through one pipeline.")
  var files: [String]

  func validate() throws {
    guard !files.isEmpty else { throw ValidationError("name at least one capture file") }
    if let local, localNetworks(local) == nil {
      throw ValidationError("--local takes addresses and networks like 10.0.0.0/8 or 2001:db8::/32, comma-separated")
    }
  }

  private func localNetworks(_ text: String) -> [IPNetwork]? {
    let networks = text.split(separator: ",").map { IPNetwork(String($0.filter { $0 != " " })) }
    guard !networks.isEmpty, networks.allSatisfy({ $0 != nil }) else { return nil }
    return networks.compactMap { $0 }
  }

  func run() throws {
    signal(SIGPIPE, SIG_IGN)
    guard var settings = pipeline.settings() else {
      standardError("flowsentry: error: the configuration does not validate; not replaying")
      throw ExitCode.failure
    }
    self.output.apply(to: &settings)
    guard let rules = PipelineOptions.loadRules(settings) else {
      standardError("flowsentry: error: the rules do not validate; not replaying")
      throw ExitCode.failure
    }
    var observing = PacketObserver.Configuration()
    if let local, let networks = localNetworks(local) { observing.localNetworks = networks }
    observing.dnsPorts = Set(settings.capture.dnsPorts)
    let replayer = Replayer(
      pipeline: Pipeline(configuration: settings.pipeline.validatingSegments, rules: rules),
      observer: PacketObserver(configuration: observing))
    let outputs: [ForwardingOutput]
    do {
      outputs = try OutputOptions.startOutputs(settings)
    } catch {
      standardError("flowsentry: error: \(error)")
      throw ExitCode.failure
    }
    let context = EventJSON.Context(hostName: hostName())
    let output = JSONLinesEventSink(context: context)
    var sinks: [any EventSink] = []
    if settings.printsToStandardOutput {
      sinks.append(SelectingEventSink(selection: settings.effectiveEvents, output))
    }
    if !outputs.isEmpty { sinks.append(OutputRouter(outputs: outputs, context: context, processID: getpid())) }
    let sink = AlertCountingSink(MultiplexEventSink(sinks))
    for file in files {
      replayer.replay(path: file, to: sink) { progress in
        let percent = progress.size > 0 ? 100 * Double(progress.bytesRead) / Double(progress.size) : 0
        standardError(
          "flowsentry: replay: \(progress.path): \(String(format: "%.0f", percent))% "
            + "(\(progress.bytesRead) of \(progress.size) bytes), \(progress.packets) packets, "
            + "\(Int(progress.packetsPerSecond)) packets/s")
      }
    }
    sink.flush()
    // Each output delivers what it holds within its drain timeout; the rest waits in its spool.
    DispatchQueue.concurrentPerform(iterations: outputs.count) { outputs[$0].stop() }
    for line in report(replayer, output.counters, sink.alertsByRule) { standardError(line) }
    for output in outputs { standardError("flowsentry: replay: " + output.summary) }
    // A file cut short was still replayed up to its last good packet; one that cannot be read at all was not.
    if replayer.summary.unreadableFiles > 0 { throw ExitCode.failure }
  }

  private func report(
    _ replayer: Replayer, _ output: JSONLinesEventSink.Counters, _ alertsByRule: [String: Int]
  ) -> [String] {
    let summary = replayer.summary
    let counters = replayer.pipeline.counters
    let skipped = DecodeSkip.allCases.map { "\($0.label) \(summary.skipped[$0] ?? 0)" }.joined(separator: ", ")
    let alerts = alertsByRule.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    var lines = [
      "flowsentry: replay: \(summary.files) files, \(summary.bytes) bytes, \(summary.packets) packets, "
        + "\(summary.decoded) decoded; skipped: \(skipped); "
        + "recorded events \(summary.recordedEvents), malformed lines \(summary.malformedLines); "
        + "flows: begin \(counters.flows.beginEvents), end \(counters.flows.endEvents), "
        + "ends without begin \(counters.flows.endsWithoutBegin), open at the end \(counters.flows.openFlows); "
        + "dns: answered \(counters.dns.answered), unsolicited \(counters.dns.unsolicited), "
        + "malformed \(counters.dns.malformed); events printed \(output.eventsWritten), "
        + "alerts \(output.alertsWritten)\(alerts.isEmpty ? "" : " (\(alerts))"), "
        + "lost to failed writes \(output.eventsLost + output.alertsLost)"
    ]
    lines += summary.firstSkipped.map { "flowsentry: replay: " + $0 }
    lines += summary.fileErrors.map { "flowsentry: replay: error: " + $0 }
    return lines
  }
}

/// Counts alerts per rule on their way to the output, for the replay summary.
final class AlertCountingSink<Inner: EventSink>: EventSink {
  let inner: Inner
  private(set) var alertsByRule: [String: Int] = [:]

  init(_ inner: Inner) { self.inner = inner }

  func receive(_ event: SensorEvent) { inner.receive(event) }

  func receive(_ alert: Alert) {
    alertsByRule[alert.ruleID, default: 0] += 1
    inner.receive(alert)
  }

  func flush() { inner.flush() }
}

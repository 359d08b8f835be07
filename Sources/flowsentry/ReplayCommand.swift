import ArgumentParser
import FlowsentryCore
import FlowsentryForwarding
import FlowsentryLogging
import FlowsentryOutput
import FlowsentryPackets
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryRules
import Foundation
import Logging

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
      and, for long files, progress go to stderr. Exit status: 0 when every file gave what it holds \
      (a capture cut short counts, up to its last good packet; an empty recording holds nothing); 1 \
      when a file could not be opened, is neither a capture nor a recording, or is a recording with \
      lines but no usable event (another schema version, another format); 64 for a usage error. \
      Without --host, a recording's alerts name the sensor that recorded their events, with the id it \
      gave them live. A rotation set given newest first (FILE FILE.1 FILE.2) is replayed oldest first.
      """
  )

  @OptionGroup var common: CommonOptions
  @OptionGroup var pipeline: PipelineOptions
  @OptionGroup var output: OutputOptions
  @OptionGroup var cache: PatternCacheOption

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
    let logger = common.bootstrapLogging(settings)
    guard let rules = PipelineOptions.loadRules(settings, logger: common.diagnosticsLogger(logger, settings)) else {
      logger.error("the rules do not validate; not replaying")
      throw ExitCode.failure
    }
    // The regex databases' cache: --pattern-cache, else that of the sensor --config describes
    // (state_dir/patterns; replay writes there but never prunes), so that a replay with the
    // monitor's rules loads what the monitor compiled. Built before the first packet, and timed.
    let cacheDirectory =
      cache.patternCache
      ?? pipeline.config.map { _ in RuleSet.patternCacheDirectory(stateDirectory: settings.stateDirectory) }
    if let line = PatternCacheOption.prepare(
      rules, cacheDirectory: cacheDirectory, hint: "--pattern-cache DIR, or --config with the sensor's state_dir,")
    {
      logger.info("replay: \(line)")
    }
    // What each list read from its feeds: a retro-hunt through a feed whose glob matched nothing (an
    // optional list says nothing of it at load) would otherwise end in "alerts 0", read as "nobody
    // talked to it". Said, not warned: the shipped lists are optional, and most hosts have no feeds.
    for list in rules.intelLists where !list.filePatterns.isEmpty {
      let unmatched = list.files == 0 ? "; no file matched \(list.filePatterns.joined(separator: ", "))" : ""
      logger.info("replay: \(list.description)\(unmatched)")
    }
    var observing = PacketObserver.Configuration()
    if let local, let networks = localNetworks(local) { observing.localNetworks = networks }
    observing.dnsPorts = Set(settings.capture.dnsPorts)
    // First-seen rules learn in memory only: a replay must neither read nor change what the live
    // sensor learned in its state directory.
    var pipelineSettings = settings.pipeline.validatingSegments
    pipelineSettings.rules.stateDirectory = nil
    let replayer = Replayer(
      pipeline: Pipeline(configuration: pipelineSettings, rules: rules),
      observer: PacketObserver(configuration: observing))
    let outputs: [ForwardingOutput]
    do {
      outputs = try OutputOptions.startOutputs(settings, logger: logger)
    } catch {
      logger.error("\(error)")
      throw ExitCode.failure
    }
    let context = EventJSON.Context(hostName: settings.pipeline.host)
    let output = JSONLinesEventSink(context: context)
    let sink = ReplaySink(
      printed: settings.printsToStandardOutput ? SelectingEventSink(selection: settings.effectiveEvents, output) : nil,
      printsEvents: settings.printsToStandardOutput && !settings.effectiveEvents.isEmpty,
      router: outputs.isEmpty ? nil : OutputRouter(outputs: outputs, context: context, processID: getpid()),
      recorded: settings.host != nil
        ? nil
        : RecordedHostAlerts(
          replayingHost: settings.pipeline.host, printsToStandardOutput: settings.printsToStandardOutput,
          outputs: outputs))
    let (ordered, notes) = RotationOrder.oldestFirst(files)
    for note in notes { logger.notice("replay: \(note)") }
    for file in ordered {
      replayer.replay(path: file, to: sink) { progress in
        let percent = progress.size > 0 ? 100 * Double(progress.bytesRead) / Double(progress.size) : 0
        let line =
          "replay: \(progress.path): \(String(format: "%.0f", percent))% "
          + "(\(progress.bytesRead) of \(progress.size) bytes), "
          + (progress.isRecording
            ? "\(progress.events) events, \(Int(progress.eventsPerSecond)) events/s"
            : "\(progress.packets) packets, \(Int(progress.packetsPerSecond)) packets/s")
        logger.info("\(line)")
      }
    }
    // After the last file, not after each: the files are one input, and a question at the end of
    // one may be answered at the start of the next.
    replayer.finish(to: sink)
    // Each output delivers what it holds within its drain timeout; the rest waits in its spool.
    DispatchQueue.concurrentPerform(iterations: outputs.count) { outputs[$0].stop() }
    report(replayer, sink.recorded.map { $0.counters(adding: output.counters) } ?? output.counters, logger)
    for output in outputs {
      logger.info(
        "replay: output \(output.configuration.name) (\(output.configuration.address))",
        metadata: CounterTable.metadata(output.counters.samples(output: output.configuration.name)))
    }
    // A file cut short was still replayed up to its last good packet; one that cannot be read at
    // all was not, nor one whose lines were none of them events: a retro-hunt over it would
    // otherwise read as "nobody talked to it".
    if replayer.summary.unreadableFiles + replayer.summary.unusableFiles > 0 { throw ExitCode.failure }
  }

  private func report(_ replayer: Replayer, _ output: JSONLinesEventSink.Counters, _ logger: Logger) {
    let summary = replayer.summary
    let counters = replayer.pipeline.counters
    let skipped = DecodeSkip.allCases.map { "\($0.label) \(summary.skipped[$0] ?? 0)" }.joined(separator: ", ")
    let alerts = counters.perRule.filter { $0.alerts > 0 }.map { "\($0.ruleID) \($0.alerts)" }
      .joined(separator: ", ")
    // Only rules a limit stopped, as alerts: with thousands of rules a zero each would drown the line.
    let limited = counters.perRule.filter { $0.regexLimitHits > 0 }
    let limitHits = limited.reduce(UInt64(0)) { $0 &+ $1.regexLimitHits }
    let limits = limited.map { "\($0.ruleID) \($0.regexLimitHits)" }.joined(separator: ", ")
    let folded = Self.perRule(counters.perRule.map { ($0.ruleID, $0.suppressed) })
    let flows = counters.flows
    let lost = output.eventsLost + output.alertsLost
    // What captures hold (packets, and the flows and lookups made of them) only when captures were
    // replayed; what recordings hold (their events by kind) only when recordings were.
    var parts = ["replay: \(Self.files(summary)), \(Self.count(Int(summary.bytes), "byte"))"]
    if summary.captureFiles > 0 || summary.recordingFiles == 0 {
      parts.append(
        "\(Self.count(Int(summary.packets), "packet")), \(summary.decoded) decoded; skipped: \(skipped)")
      parts.append(
        "flows: begin \(flows.beginEvents), end \(flows.endEvents), "
          + "ends without begin \(flows.endsWithoutBegin), open at the end \(flows.openFlows)")
      parts.append(
        "dns: answered \(counters.dns.answered), unanswered \(counters.dns.questionsUnanswered), "
          + "answered on retry \(counters.dns.questionsAnsweredOnRetry), unsolicited \(counters.dns.unsolicited), "
          + "malformed \(counters.dns.malformed)")
    }
    if summary.recordingFiles > 0 {
      let kinds = EventName.allCases.compactMap { name in
        summary.recordedByKind[name].map { "\(name.rawValue) \($0)" }
      }
      parts.append(
        "recorded events \(summary.recordedEvents), malformed lines \(summary.malformedLines), "
          + "skipped lines: alerts \(summary.alertLines), unknown events \(summary.unknownEventLines)")
      if !kinds.isEmpty { parts.append("by kind: \(kinds.joined(separator: ", "))") }
    }
    parts.append(
      "events printed \(output.eventsWritten), alerts \(counters.rules.alerts)\(alerts.isEmpty ? "" : " (\(alerts))"), "
        + "folded by suppression \(counters.rules.suppressed)\(folded.isEmpty ? "" : " (\(folded))"), "
        + "printed \(output.alertsWritten), lost to failed writes \(lost)")
    parts.append("regex limits hit \(limitHits)\(limits.isEmpty ? "" : " (\(limits))")")
    let line = parts.joined(separator: "; ")
    logger.info("\(line)")
    for skipped in summary.firstSkipped + summary.unknownEvents { logger.warning("replay: \(skipped)") }
    if let (place, nanoseconds) = summary.firstBackwards {
      let by =
        nanoseconds >= 10_000_000_000
        ? "\(nanoseconds / 1_000_000_000) s" : String(format: "%.3f s", Double(nanoseconds) / 1e9)
      let earlier =
        switch (summary.backwardsEvents, summary.backwardsPackets) {
        case (let events, 0): "\(events) events"
        case (0, let packets): "\(packets) packets"
        case (let events, let packets): "\(events) events and \(packets) packets"
        }
      let warning =
        "replay: \(place): time runs backwards by \(by) (\(earlier) earlier than one "
        + "replayed before them): windows and suppression then fold first contacts into later alerts; "
        + "give files oldest first (a rotation set as FILE.2 FILE.1 FILE)"
      logger.warning("\(warning)")
    }
    for error in summary.fileErrors { logger.error("\(error)") }
  }
}

extension ReplayCommand {
  /// "1 recording", "3 captures", or for a mix "3 files (2 captures, 1 recording)".
  static func files(_ summary: Replayer.Summary) -> String {
    let kinds = [
      (summary.captureFiles, "capture"), (summary.recordingFiles, "recording"),
      (summary.unreadableFiles, "unreadable file"),
    ].filter { $0.0 > 0 }
    if kinds.count == 1, kinds[0].0 == summary.files { return count(kinds[0].0, kinds[0].1) }
    let breakdown = kinds.map { count($0.0, $0.1) }.joined(separator: ", ")
    return count(summary.files, "file") + (breakdown.isEmpty ? "" : " (\(breakdown))")
  }

  static func count(_ number: Int, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }

  /// "RULE N, …" for the rules whose count is not zero, the largest first, at most as many as the
  /// monitor's counter tables show of a family (`CounterTable.maximumRows`), then how many more.
  static func perRule(_ counts: [(rule: String, count: UInt64)]) -> String {
    let counted = counts.filter { $0.count > 0 }.sorted {
      $0.count > $1.count || ($0.count == $1.count && $0.rule < $1.rule)
    }
    var parts = counted.prefix(CounterTable.maximumRows).map { "\($0.rule) \($0.count)" }
    if counted.count > CounterTable.maximumRows {
      parts.append("\(counted.count - CounterTable.maximumRows) more rules")
    }
    return parts.joined(separator: ", ")
  }
}

/// Where a replay's events and alerts go: standard output (events as `--events` selects) and the
/// outputs. One concrete sink, so that the pipeline calls it directly, and an event nothing prints
/// (`--events none`, the retro-hunt's usual case) goes nowhere at no cost.
private final class ReplaySink: EventSink {
  let printed: SelectingEventSink<JSONLinesEventSink>?
  let printsEvents: Bool
  let router: OutputRouter?
  /// Nil with --host (or `host:` in the configuration): every alert names that sensor.
  let recorded: RecordedHostAlerts?

  init(
    printed: SelectingEventSink<JSONLinesEventSink>?, printsEvents: Bool, router: OutputRouter?,
    recorded: RecordedHostAlerts?
  ) {
    self.printed = printed
    self.printsEvents = printsEvents
    self.router = router
    self.recorded = recorded
  }

  func receive(_ event: SensorEvent) {
    if printsEvents { printed?.receive(event) }
    router?.receive(event)
  }

  func receive(_ alert: Alert) {
    if let recorded, let host = alert.events.lazy.map(\.host).first(where: { !$0.isEmpty }),
      host != recorded.replayingHost
    {
      // Standard output keeps its order: what the main sink holds goes out first.
      printed?.flush()
      recorded.receive(alert, host: host)
      return
    }
    printed?.receive(alert)
    router?.receive(alert)
  }

  func flush() {
    printed?.flush()
    router?.flush()
  }
}

/// A recording's alerts, named after the sensor that recorded their events: its `host` in the alert,
/// ECS `host.name` and CEF `dvchost`, and in the alert's id (`StableIdentifier.alert` hashes the
/// host), so that a replayed alert has the id the live sensor's had and a receiver deduplicating by
/// id keeps one. A capture's events name no sensor (the pipeline names them after the replaying
/// one), so its alerts need nothing of this.
final class RecordedHostAlerts {
  let replayingHost: String
  private let printsToStandardOutput: Bool
  private let outputs: [ForwardingOutput]
  /// The sinks of each host met, as many as `maximumHosts` (the names come from the files).
  private var byHost: [String: (printed: JSONLinesEventSink?, router: OutputRouter?)] = [:]
  /// What the sinks of hosts past `maximumHosts`, made for one alert each, wrote.
  private var retired = JSONLinesEventSink.Counters()
  static let maximumHosts = 256

  init(replayingHost: String, printsToStandardOutput: Bool, outputs: [ForwardingOutput]) {
    self.replayingHost = replayingHost
    self.printsToStandardOutput = printsToStandardOutput
    self.outputs = outputs
  }

  func receive(_ alert: Alert, host: String) {
    var alert = alert
    alert.id = StableIdentifier.alert(alert, host: host)
    let sinks = byHost[host] ?? make(host)
    if let printed = sinks.printed {
      printed.receive(alert)
      printed.flush()
    }
    sinks.router?.receive(alert)
    guard byHost[host] == nil else { return }
    if byHost.count < Self.maximumHosts {
      byHost[host] = sinks
    } else if let printed = sinks.printed {
      retired = Self.sum(retired, printed.counters)
    }
  }

  private func make(_ host: String) -> (printed: JSONLinesEventSink?, router: OutputRouter?) {
    let context = EventJSON.Context(hostName: host)
    return (
      printsToStandardOutput ? JSONLinesEventSink(context: context) : nil,
      outputs.isEmpty ? nil : OutputRouter(outputs: outputs, context: context, processID: getpid())
    )
  }

  /// `main`'s counters with what these sinks wrote added.
  func counters(adding main: JSONLinesEventSink.Counters) -> JSONLinesEventSink.Counters {
    byHost.values.compactMap(\.printed).reduce(Self.sum(main, retired)) { Self.sum($0, $1.counters) }
  }

  private static func sum(_ a: JSONLinesEventSink.Counters, _ b: JSONLinesEventSink.Counters)
    -> JSONLinesEventSink.Counters
  {
    JSONLinesEventSink.Counters(
      eventsWritten: a.eventsWritten + b.eventsWritten, alertsWritten: a.alertsWritten + b.alertsWritten,
      eventsLost: a.eventsLost + b.eventsLost, alertsLost: a.alertsLost + b.alertsLost,
      failedWrites: a.failedWrites + b.failedWrites, bytesWritten: a.bytesWritten + b.bytesWritten)
  }
}

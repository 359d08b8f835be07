import ArgumentParser
import FlowsentryAggregate
import FlowsentryConfiguration
import FlowsentryCore
import FlowsentryForwarding
import FlowsentryMetrics
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Logging

#if canImport(Glibc)
  import Glibc
#endif

struct AggregateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "aggregate",
    abstract: "Run fleet-wide rules on the events many sensors publish to NATS JetStream.",
    discussion: """
      Reads the partitions this instance owns (instance i of N takes every partition p with \
      p % N == i) from durable pull consumers, runs the rules on the events in their own time, and \
      sends alerts to the outputs. An event is acknowledged once it left every window it can feed \
      (its time is older than the partition's newest minus the longest window and lateness_ms), so \
      an instance killed and restarted rebuilds its windows from the events the server delivers \
      again; alert ids depend on the rule, group and earliest event only, so a re-raised alert is \
      dropped by the receiver's deduplication. See docs/FLEET.md.
      """
  )

  @OptionGroup var common: CommonOptions
  @OptionGroup var output: OutputOptions

  @Option(
    help: ArgumentHelp(
      """
      nats://HOST:PORT[,HOST:PORT…]?stream=NAME&consumer=NAME[&partitions=N&subject=PREFIX.{partition}.>\
      &partition_key=remote&ack_wait_ms=30000&max_ack_pending=20000&lateness_ms=60000&future_skew_ms=300000&batch=256] with \
      creds_file, token_file, basic_auth_file, nkey and nkey_seed_file, ca, cert, key, server_name, tls_verify.
      """, valueName: "spec"))
  var input: String

  @Option(help: "This instance's number, 0 to --instances minus 1.")
  var instance = 0

  @Option(help: "How many instances share the partitions.")
  var instances = 1

  @Option(
    name: .customLong("rules"),
    help: "Rule files or directories, loaded after the shipped fleet rules (repeatable).")
  var rulePaths: [String] = []

  @Flag(help: "Do not load the shipped fleet rules (rules/fleet).")
  var noFleetRules = false

  @Option(
    help: ArgumentHelp(
      "The aggregate's identity in alert ids and outputs; the same for every instance (default: fleet).",
      valueName: "name"))
  var host = "fleet"

  @Option(help: "Events an alert lists at most (default 100).")
  var maxEventsPerAlert = 100

  @Option(
    help: ArgumentHelp(
      "Serve the counters for Prometheus at http://HOST:PORT/metrics (e.g. 127.0.0.1:9465; off by default).",
      valueName: "host:port"))
  var metricsAddress: String?

  @Option(
    help: ArgumentHelp(
      "Stop once nothing arrived for this many seconds after the first event (a backlog's catch-up, benchmarks).",
      valueName: "seconds"))
  var untilIdle: Double?

  func validate() throws {
    do { _ = try AggregateInput.parse(input) } catch { throw ValidationError(error.description) }
    do { _ = try layout(partitions: try AggregateInput.parse(input).partitions) } catch {
      throw ValidationError("\(error)")
    }
    if let problem = SensorIdentity.problem(host) { throw ValidationError("--\(problem)") }
    if let metricsAddress, HostAndPort.parse(metricsAddress) == nil {
      throw ValidationError("--metrics-address takes HOST:PORT, e.g. 127.0.0.1:9465")
    }
    if let untilIdle, !(0.1...86_400).contains(untilIdle) { throw ValidationError("--until-idle takes 0.1 to 86400") }
    guard (1...10_000).contains(maxEventsPerAlert) else {
      throw ValidationError("--max-events-per-alert takes 1 to 10000")
    }
  }

  private func layout(partitions: Int) throws(PartitionLayoutError) -> PartitionLayout {
    try PartitionLayout(partitions: partitions, instance: instance, instances: instances)
  }

  func run() throws {
    signal(SIGPIPE, SIG_IGN)
    var settings = SensorConfiguration()
    output.apply(to: &settings)
    let logger = common.bootstrapLogging(settings)
    let input = try AggregateInput.parse(input)
    if !input.verifyCertificate {
      logger.warning(
        "input: TLS certificate verification is OFF (tls_verify=false); anyone on the path can read and forge events")
    }
    let layout = try layout(partitions: input.partitions)
    let rules: RuleSet
    do {
      rules = try RuleLoader.load(sources: noFleetRules ? [] : FleetRules.files, paths: rulePaths)
      for warning in rules.warnings { logger.warning("\(warning.description)") }
    } catch {
      for diagnostic in error.diagnostics { logger.error("\(diagnostic.description)") }
      logger.error("the rules do not validate; not aggregating")
      throw ExitCode.failure
    }
    let problems = PartitionLayout.problems(rules, partitionKey: input.partitionKey, partitions: input.partitions)
    guard problems.isEmpty else {
      for problem in problems { logger.error("\(problem)") }
      logger.error("the rules do not fit the partition layout; not aggregating")
      throw ExitCode.failure
    }
    let window = PartitionLayout.longestWindowNanoseconds(rules)
    let aggregator: Aggregator
    do {
      aggregator = try Aggregator(input: input, layout: layout, windowNanoseconds: window) { logger.notice("\($0)") }
    } catch {
      logger.error("aggregate: \(input.servers.joined(separator: ",")) stream \(input.stream): \(error)")
      throw ExitCode.failure
    }
    let outputs: [ForwardingOutput]
    do {
      outputs = try OutputOptions.startOutputs(settings, logger: logger)
    } catch {
      logger.error("\(error)")
      throw ExitCode.failure
    }
    var pipelineSettings = Pipeline.Configuration()
    pipelineSettings.host = host
    pipelineSettings.rules.maximumEventsPerAlert = maxEventsPerAlert
    let pipeline = Pipeline(configuration: pipelineSettings, rules: rules)
    let context = EventJSON.Context(hostName: host)
    var sinks: [any EventSink] = []
    if settings.printsToStandardOutput {
      sinks.append(SelectingEventSink(selection: [], JSONLinesEventSink(context: context)))
    }
    if !outputs.isEmpty { sinks.append(OutputRouter(outputs: outputs, context: context, processID: getpid())) }
    let sink = AggregateAlertSink(MultiplexEventSink(sinks), host: host, forwardsEvents: true)
    logger.info(
      "aggregate: instance \(layout.instance) of \(layout.instances), partitions \(layout.owned.map(String.init).joined(separator: ",")) of \(input.partitions) on \(input.stream), \(rules.rules.filter(\.enabled).count) rules, longest window \(window / 1_000_000_000) s, lateness \(input.latenessMilliseconds) ms",
      metadata: ["version": "\(FlowsentryVersion.current)"]
    )
    let metrics = AggregateMetrics(aggregator: aggregator, outputs: outputs)
    var metricsServer: MetricsServer?
    if let address = metricsAddress.flatMap(HostAndPort.parse) {
      do {
        metricsServer = try metrics.serve(host: address.host, port: address.port)
        logger.info("metrics on http://\(HostAndPort.text(host: address.host, port: metricsServer!.port))/metrics")
      } catch {
        logger.error("metrics: cannot listen on \(address.host):\(address.port): \(error)")
        throw ExitCode.failure
      }
    }
    let stop = StopRequest()
    let signals = [SIGTERM, SIGINT].map { number in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler { stop.request() }
      source.resume()
      return source
    }
    var lastReport = Date()
    var lastFetched: (count: UInt64, at: Date) = (0, Date())
    var firstFetched: (count: UInt64, at: Date)?
    aggregator.run(shouldStop: {
      metrics.refresh(pipeline)
      if Date().timeIntervalSince(lastReport) >= 10 {
        lastReport = Date()
        report(aggregator, pipeline, logger)
      }
      if let untilIdle {
        let fetched = aggregator.counters.fetched
        if fetched != lastFetched.count {
          if firstFetched == nil { firstFetched = (fetched, Date()) }
          lastFetched = (fetched, Date())
        } else if fetched > 0, Date().timeIntervalSince(lastFetched.at) >= untilIdle {
          let first = firstFetched ?? lastFetched
          let busy = lastFetched.at.timeIntervalSince(first.at)
          let line =
            "aggregate: idle for \(untilIdle) s; \(fetched) messages, \(fetched - first.count) of them after the "
            + "first batch in \(String(format: "%.3f", busy)) s"
          logger.info("\(line)")
          return true
        }
      }
      return stop.requested
    }) { event in
      pipeline.rerun(event, to: sink)
    }
    signals.forEach { $0.cancel() }
    metrics.refresh(pipeline, force: true)
    sink.flush()
    DispatchQueue.concurrentPerform(iterations: outputs.count) { outputs[$0].stop() }
    report(aggregator, pipeline, logger)
    if let metricsServer { AggregateMetrics.stop(metricsServer) }
  }

  private func report(_ aggregator: Aggregator, _ pipeline: Pipeline, _ logger: Logger) {
    let counters = aggregator.counters
    let line =
      "aggregate: fetched \(counters.fetched) (redelivered \(counters.redelivered), held already \(counters.repeated)), evaluated \(counters.evaluated), "
      + "held \(counters.held), acknowledged \(counters.acknowledged) (forced \(counters.forced)), late \(counters.late), future \(counters.future), "
      + "skipped \(counters.skipped), malformed \(counters.malformed), in-progress \(counters.extended), "
      + "errors \(counters.errors); alerts \(pipeline.counters.rules.alerts)"
    logger.info("\(line)")
  }
}

/// Set from a signal handler's queue, read by the aggregate's loop.
private final class StopRequest: @unchecked Sendable {
  private let lock = NSLock()
  private var flag = false
  func request() { lock.withLock { flag = true } }
  var requested: Bool { lock.withLock { flag } }
}

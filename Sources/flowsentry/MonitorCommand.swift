import ArgumentParser
import FlowsentryCapture
import FlowsentryConfiguration
import FlowsentryCore
import FlowsentryDNS
import FlowsentryFlows
import FlowsentryForwarding
import FlowsentryLogging
import FlowsentryMetrics
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules
import Logging
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
  import Glibc
#endif

enum EventJSONSchema {
  static let version = EventJSON.schemaVersion
}

struct MonitorCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "monitor",
    abstract: "Attach to a cgroup and print flow events as JSON lines until SIGINT or SIGTERM.",
    discussion: """
      Needs root. Counters (events, drops, evictions) go to stderr on exit. The programs are attached
      through bpf_links owned by this process: they are detached when it exits, even when killed.
      """
  )

  @OptionGroup var common: CommonOptions

  @Option(
    help: "cgroup v2 directory to monitor, absolute or relative to the cgroup v2 mount (default: the whole host).")
  var cgroup: String?

  @OptionGroup var pipeline: PipelineOptions
  @OptionGroup var output: OutputOptions

  @Option(help: "Kernel ring buffer size in bytes (a power of two; default 8 MiB).")
  var ringBufferBytes: UInt32?

  @Option(
    help: """
      Also write every event to FILE as JSON lines (rotated by size), for `flowsentry replay FILE` to \
      run other rules on later.
      """)
  var record: String?

  @Option(
    help: """
      With --record: the size at which a file rotates to FILE.1 (checked as each batch of events is \
      written, so a file ends up to one batch past it).
      """)
  var recordMaxBytes: UInt64 = 100 << 20

  @Option(help: "With --record: files kept (FILE and FILE.1 … FILE.N-1).")
  var recordFiles = 5

  @Option(
    help: ArgumentHelp(
      "Serve the counters for Prometheus at http://HOST:PORT/metrics (e.g. 127.0.0.1:9464; off by default).",
      valueName: "host:port"))
  var metricsAddress: String?

  @Option(help: "Print counters to stderr every N seconds (0, the default: only on exit).")
  var statsInterval: Int?

  func validate() throws {
    if let ringBufferBytes {
      guard ringBufferBytes >= 4096, ringBufferBytes & (ringBufferBytes - 1) == 0 else {
        throw ValidationError("--ring-buffer-bytes must be a power of two of at least 4096")
      }
    }
    if let statsInterval, statsInterval < 0 { throw ValidationError("--stats-interval must not be negative") }
    if let metricsAddress, SensorConfiguration.parseAddress(metricsAddress) == nil {
      throw ValidationError("--metrics-address takes HOST:PORT, e.g. 127.0.0.1:9464")
    }
    guard recordMaxBytes >= 4096 else { throw ValidationError("--record-max-bytes must be at least 4096") }
    guard (1...1000).contains(recordFiles) else { throw ValidationError("--record-files takes 1 to 1000") }
  }

  func run() async throws {
    // A reader that goes away makes writes fail with EPIPE, counted and reported in the summary,
    // instead of killing the monitor before it can say what it lost.
    signal(SIGPIPE, SIG_IGN)
    // A SIGHUP before the reload service listens is ignored, not the default exit.
    signal(SIGHUP, SIG_IGN)
    // SIGTERM and SIGINT stop the monitor from here on, the start included (StopSignals.swift).
    let stops = await StopSignals.trap()
    let startedAt = MonotonicClock.nanoseconds()
    // A broken configuration or broken rules stop the monitor before anything is attached.
    guard var settings = pipeline.settings() else {
      standardError("flowsentry: error: the configuration does not validate; not starting")
      throw ExitCode.failure
    }
    output.apply(to: &settings)
    if let cgroup { settings.cgroup = cgroup }
    if let ringBufferBytes { settings.capture.ringBufferBytes = ringBufferBytes }
    if let statsInterval { settings.statsIntervalSeconds = statsInterval }
    if let metricsAddress {
      settings.metricsAddress = metricsAddress
      settings.metricsAddressPosition = nil
    }
    let logger = common.bootstrapLogging(settings)
    // /metrics is bound before anything slow or privileged: a port already taken stops the monitor
    // in a moment, through the logger, before the rules' build and before a program is attached.
    let served = ServedCounters()
    var metricsServer: MetricsServer?
    if let address = settings.metricsAddress.flatMap(HostAndPort.parse) {
      guard let server = await Self.bindMetrics(address, settings: settings, served: served, logger: logger) else {
        throw ExitCode.failure
      }
      metricsServer = server
    }
    do {
      try await run(
        settings: settings, logger: logger, metricsServer: metricsServer, served: served,
        start: Start(stops: stops, startedAt: startedAt))
    } catch {
      await metricsServer?.stop()
      throw error
    }
  }

  /// Serves `/metrics` at `address`, or says where the address was set and why it cannot be.
  private static func bindMetrics(
    _ address: (host: String, port: Int), settings: SensorConfiguration, served: ServedCounters, logger: Logger
  ) async -> MetricsServer? {
    do {
      let server = try await MetricsServer(
        host: address.host, port: address.port, exporter: MetricsExporter { served.samples() },
        counters: MetricsServer.Counters())
      logger.info("metrics on http://\(HostAndPort.text(host: address.host, port: server.port))/metrics")
      return server
    } catch {
      let text = settings.metricsAddress ?? ""
      let problem =
        "cannot serve /metrics at \(text): \(error); is another process (another flowsentry?) listening there?"
      if var position = settings.metricsAddressPosition {
        position.message = "metrics_address: " + problem
        RulesCommand.report(position, logger)
      } else {
        logger.error("--metrics-address: \(problem)")
      }
      logger.error("not starting")
      return nil
    }
  }

  /// A stop asked for while the monitor starts, and when it started (for the `stopped` record).
  struct Start {
    let stops: StopSignals
    let startedAt: Int64
  }

  private func run(
    settings: SensorConfiguration, logger: Logger, metricsServer: MetricsServer?, served: ServedCounters, start: Start
  ) async throws {
    let stateDirectory = settings.pipeline.rules.stateDirectory
    // Each set taken to run prunes state_dir/patterns to the files it uses (docs/PATTERNS.md).
    let reloader = RuleReloader(
      chain: .init(builtIn: settings.defaultRules, paths: settings.rulePaths),
      patternCacheStateDirectory: stateDirectory
    ) { chain throws(RuleLoadError) in
      let rules = try RuleLoader.loadChain(builtIn: chain.builtIn, paths: chain.paths)
      // The pattern databases are built (or read from their cache) here, on the loader thread: the
      // pipeline swaps in a set that is ready and never compiles between two batches.
      PatternLog.report(rules.preparePatterns(stateDirectory: stateDirectory), logger: logger)
      return rules
    }
    // The feeds the first set reads are fingerprinted in the pass that sizes their lists, so that a
    // refresh that changes none of them reloads nothing. Its pattern sets are built there too, before
    // anything is attached: built by the pipeline's engine instead, they held the first batch for
    // seconds (22 s for 10,000 regexes) while the ring buffer filled.
    let diagnostics = common.diagnosticsLogger(logger, settings)
    let loaded = await start.stops.unlessStopped { [settings] in
      await reloader.loadFirst({
        guard let rules = PipelineOptions.loadRules(settings, logger: diagnostics) else { return nil }
        // A cold build of thousands of regexes runs for seconds to minutes before the next line: said
        // as it starts, so that the pause reads as work (and a stop meanwhile as cutting it short).
        if rules.regexCount > 0 {
          let regexes = counted(rules.regexCount, "regex", "regexes")
          logger.info(
            "building the pattern sets of \(regexes) before attaching (read from state_dir/patterns when built before)")
        }
        PatternLog.report(rules.preparePatterns(stateDirectory: stateDirectory), logger: logger)
        return rules
      })
    }
    guard let loaded else {
      Self.stoppedBeforeAttaching(start, served: served, logger: logger)
      await metricsServer?.stop()
      // The loader thread may be inside Hyperscan's compile, which nothing interrupts (one field's
      // build can take minutes). exit() would run C++ static destructors under it; _exit leaves
      // nothing behind: nothing is attached or spooled yet, and a cache file it was writing is a
      // temporary one, which pruning removes.
      fflush(nil)
      _exit(EXIT_SUCCESS)
    }
    guard let rules = loaded else {
      logger.error("the rules do not validate; not starting")
      throw ExitCode.failure
    }
    // Asked for after the load: the outputs (and their spools) are not opened, nothing attaches.
    if start.stops.isRequested {
      Self.stoppedBeforeAttaching(start, served: served, logger: logger)
      await metricsServer?.stop()
      return
    }
    var captureConfiguration = settings.capture
    // The pipeline's clock is its records': ticks move it on while the host is quiet.
    captureConfiguration.reportsClockTicks = true
    var recorder: RotatingFileEventSink?
    if let record {
      do {
        recorder = try RotatingFileEventSink(
          path: record, maximumBytes: recordMaxBytes, keep: recordFiles,
          context: EventJSON.Context(hostName: settings.pipeline.host))
      } catch {
        logger.error("\(error)")
        throw ExitCode.failure
      }
    }
    let session: CaptureSession
    let outputs: [ForwardingOutput]
    do {
      outputs = try OutputOptions.startOutputs(settings, logger: logger)
      session = try CaptureSession(cgroupPath: settings.cgroup, configuration: captureConfiguration)
    } catch {
      logger.error("\(error)")
      throw ExitCode.failure
    }
    let hangups = await UnixSignalsSequence(trapping: .sighup)
    logger.info(
      "monitoring cgroup \(session.cgroup.path)",
      metadata: [
        "cgroup_id": "\(session.cgroup.id)", "programs": .array(session.programIDs.map { "\($0)" }),
        "rules": "\(rules.rules.filter(\.enabled).count)",
        // Logs are read beside a fleet of builds: each run says which one wrote them.
        "version": "\(FlowsentryVersion.current)",
      ])
    let counters = MonitorCounters(
      session: session, outputs: outputs, recording: recorder != nil, metricsConnections: metricsServer?.counters)
    counters.patterns.withLock { $0 = rules.preparedPatterns }
    served.serve(counters)
    // Consumed: the services hold the first set, and once a reload replaces it nothing keeps it alive.
    let services = monitorServices(
      settings: settings, session: session, rules: consume rules, reloader: reloader, recorder: recorder,
      outputs: outputs, counters: counters, hangups: hangups, metricsServer: metricsServer, logger: logger)
    // The service group's own records (lifecycle) only when debugging: the monitor logs its own.
    var lifecycle = logger
    lifecycle.logLevel = max(logger.logLevel, .warning)
    if common.verbose { lifecycle.logLevel = .debug }
    // No signals of its own: `stops` has trapped them since the start, and one already caught (during
    // the attach, say) shuts the group down as soon as it runs, through the same drain.
    let group = ServiceGroup(configuration: .init(services: services, logger: lifecycle))
    await start.stops.stop(group)
    try await group.run()
    logger.info("stopped", metadata: counters.metadata())
  }

  /// The record a stop writes, for a stop before anything attached: the counters there are (the
  /// build and the process's), and that it stopped while starting.
  private static func stoppedBeforeAttaching(_ start: Start, served: ServedCounters, logger: Logger) {
    var metadata = CounterTable.metadata(served.samples())
    let tenths = (MonotonicClock.nanoseconds() - start.startedAt) / 100_000_000
    metadata["uptime_seconds"] = .stringConvertible(Double(tenths) / 10)
    metadata["during"] = "start"
    logger.info("stopped", metadata: metadata)
  }

  /// The monitor's services in the order they start; the group shuts them down in reverse: SIGHUP
  /// reloads stop first, then capture detaches and the pipeline drains, then stdout, the recording
  /// and the forwarding outputs deliver what they hold, and `/metrics` and the stats log last.
  private func monitorServices(
    settings: SensorConfiguration, session: CaptureSession, rules: RuleSet, reloader: RuleReloader,
    recorder: RotatingFileEventSink?, outputs: [ForwardingOutput], counters: MonitorCounters,
    hangups: UnixSignalsSequence, metricsServer: MetricsServer?, logger: Logger
  ) -> [ServiceGroupConfiguration.ServiceConfiguration] {
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
    if let metricsServer { services.append(.init(service: MetricsService(server: metricsServer))) }
    if settings.statsIntervalSeconds > 0 {
      services.append(
        .init(
          service: StatsLoggerService(
            interval: .seconds(settings.statsIntervalSeconds), counters: counters, logger: logger)))
    }
    if !outputs.isEmpty { services.append(.init(service: ForwardingOutputsService(outputs: outputs))) }
    let context = EventJSON.Context(hostName: settings.pipeline.host)
    var sinks: [any EventSink] = []
    if let recorder {
      services.append(.init(service: RecorderService(recorder: recorder, counters: counters)))
      sinks.append(recorder)
    }
    if !outputs.isEmpty { sinks.append(OutputRouter(outputs: outputs, context: context, processID: getpid())) }
    // Up to 64 MiB waiting for a slow reader of stdout, then dropped lines, counted.
    let standardOutput = JSONLinesEventSink(context: context, backgroundCapacityBytes: 64 << 20)
    services.append(.init(service: StandardOutputService(sink: standardOutput, counters: counters)))
    let printed = SelectingEventSink(
      selection: settings.printsToStandardOutput ? settings.effectiveEvents : [], standardOutput)
    let publish = {
      let written = standardOutput.counters
      counters.stdout.withLock { $0 = written }
      if let recorder {
        let recorded = (recorder.counters, recorder.rotations, recorder.rotationFailures)
        counters.recorded.withLock { $0 = recorded }
      }
    }
    // The capture service ends the group when its stream ends on its own, gracefully.
    if sinks.isEmpty && settings.printsToStandardOutput {
      services.append(
        .init(
          service: CaptureService(
            session: session, configuration: settings.pipeline, rules: rules, reloader: reloader, sink: printed,
            counters: counters, publishSinkCounters: publish),
          successTerminationBehavior: .gracefullyShutdownGroup))
    } else {
      let sink = MultiplexEventSink((settings.printsToStandardOutput ? [printed] : []) + sinks)
      services.append(
        .init(
          service: CaptureService(
            session: session, configuration: settings.pipeline, rules: rules, reloader: reloader, sink: sink,
            counters: counters, publishSinkCounters: publish),
          successTerminationBehavior: .gracefullyShutdownGroup))
    }
    services.append(.init(service: RuleReloadService(reloader: reloader, hangups: hangups, logger: logger)))
    // With no feed files to watch (or no inotify) the watcher returns at once: reloads stay on SIGHUP.
    services.append(
      .init(
        service: FeedWatchService(reloader: reloader, rules: rules, logger: logger), successTerminationBehavior: .ignore
      ))
    return services
  }
}

/// One line to stderr, unbuffered (stdout carries the events), as log records are written:
/// positioned diagnostics and command errors, which are for people as they are.
func standardError(_ line: String) {
  SensorLogHandler.standardError(Array((line + "\n").utf8))
}

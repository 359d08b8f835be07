import ArgumentParser
import FlowsentryCapture
import FlowsentryCore
import FlowsentryDNS
import FlowsentryFlows
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules
import Logging
import ServiceLifecycle

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

  @Option(
    help: """
      Events to print: names or sets, comma-separated (flows, network_events, net_flow_tcp_begin, \
      net_flow_tcp_end, net_flow_tcp_half_open, net_packet_dns), or none. Default: flows, or none when \
      --rules is given.
      """
  )
  var events: String?

  @Option(
    name: .customLong("rules"),
    help: """
      Rule files or directories, loaded in order (repeatable) after the built-in rules and \
      /etc/flowsentry/rules.d; alerts go to stdout. SIGHUP reloads the whole chain.
      """)
  var rulePaths: [String] = []

  @Flag(help: "Do not load the built-in rules (start from /etc/flowsentry/rules.d and --rules only).")
  var noDefaultRules = false

  @Option(help: "Open flows tracked at most; the least recently active is evicted (and counted) beyond it.")
  var maxFlows = 262_144

  @Option(help: "Kernel ring buffer size in bytes (a power of two).")
  var ringBufferBytes: UInt32 = 8 << 20

  @Option(help: "Source ports whose UDP and TCP payloads are DNS responses, comma-separated.")
  var dnsPorts = "53"

  @Option(help: "IP addresses the DNS cache names at most (least recently used evicted beyond it).")
  var dnsCacheSize = 100_000

  @Option(help: "Print counters to stderr every N seconds (0: only on exit).")
  var statsInterval = 0

  func validate() throws {
    do { _ = try selection() } catch { throw ValidationError(error.description) }
    guard maxFlows > 0 else { throw ValidationError("--max-flows must be positive") }
    guard ringBufferBytes >= 4096, ringBufferBytes & (ringBufferBytes - 1) == 0 else {
      throw ValidationError("--ring-buffer-bytes must be a power of two of at least 4096")
    }
    guard let ports = parsedDNSPorts, !ports.isEmpty, ports.count <= CaptureSession.maximumDNSPorts else {
      throw ValidationError(
        "--dns-ports takes 1 to \(CaptureSession.maximumDNSPorts) ports from 1 to 65535, comma-separated")
    }
    guard dnsCacheSize > 0 else { throw ValidationError("--dns-cache-size must be positive") }
    guard statsInterval >= 0 else { throw ValidationError("--stats-interval must not be negative") }
  }

  private func selection() throws(EventSelectionError) -> Set<EventName> {
    let text = events ?? (rulePaths.isEmpty ? "flows" : "none")
    return text == "none" ? [] : try EventName.selection(from: text)
  }

  private var parsedDNSPorts: [UInt16]? {
    let ports = dnsPorts.split(separator: ",").map { UInt16($0.filter { $0 != " " }) }
    guard ports.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
    return ports.compactMap { $0 }
  }

  func run() async throws {
    // A reader that goes away makes writes fail with EPIPE, counted and reported in the summary,
    // instead of killing the monitor before it can say what it lost.
    signal(SIGPIPE, SIG_IGN)
    // Broken rules stop the monitor before anything is attached.
    guard let rules = RulesCommand.load(rulePaths, builtIn: !noDefaultRules) else {
      standardError("flowsentry: error: the rules do not validate; not starting")
      throw ExitCode.failure
    }
    var logger = Logger(label: "flowsentry")
    logger.logLevel = common.verbose ? .debug : .warning
    var captureConfiguration = CaptureSession.Configuration()
    captureConfiguration.ringBufferBytes = ringBufferBytes
    captureConfiguration.dnsPorts = parsedDNSPorts ?? [53]
    var pipelineConfiguration = Pipeline.Configuration()
    pipelineConfiguration.dns.cache.capacity = dnsCacheSize
    pipelineConfiguration.flows.maximumOpenFlows = maxFlows
    let session: CaptureSession
    do {
      session = try CaptureSession(cgroupPath: cgroup, configuration: captureConfiguration)
    } catch {
      standardError("flowsentry: error: \(error)")
      throw ExitCode.failure
    }
    let monitor = MonitorService(
      session: session, selection: try selection(), rules: rules,
      ruleChain: MonitorService.RuleChain(builtIn: !noDefaultRules, paths: rulePaths),
      configuration: pipelineConfiguration, statsIntervalSeconds: statsInterval, logger: logger)
    standardError(
      "flowsentry: monitoring cgroup \(session.cgroup.path) (id \(session.cgroup.id)); "
        + "programs \(session.programIDs.map(String.init).joined(separator: ",")); "
        + "\(rules.rules.filter(\.enabled).count) rules; Ctrl-C to stop")
    let group = ServiceGroup(
      configuration: .init(services: [monitor], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
    standardError("flowsentry: stopped. " + monitor.summary())
  }
}

/// One line to stderr, unbuffered (stdout carries the events).
func standardError(_ line: String) {
  var bytes = Array((line + "\n").utf8)
  bytes.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
}

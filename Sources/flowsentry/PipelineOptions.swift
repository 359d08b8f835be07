import ArgumentParser
import FlowsentryConfiguration
import FlowsentryCore
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Logging

/// What `monitor` and `replay` both set: the configuration file, which events to print, the rule
/// chain, and the stages' bounds. A flag given on the command line overrides the file; a flag not
/// given leaves the file's value, or the stage's default.
struct PipelineOptions: ParsableArguments {
  /// As many as the eBPF programs can watch (FS_DNS_PORTS_MAX); replay keeps the same bound.
  static let maximumDNSPorts = CaptureConfiguration.maximumDNSPorts

  @Option(
    help: ArgumentHelp(
      "Configuration file (YAML). Default: \(SensorConfiguration.defaultPath) when it exists. Flags override it.",
      valueName: "file"))
  var config: String?

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
      /etc/flowsentry/rules.d; alerts go to stdout. SIGHUP reloads the whole chain (monitor).
      """)
  var rulePaths: [String] = []

  @Flag(help: "Do not load the built-in rules (start from /etc/flowsentry/rules.d and --rules only).")
  var noDefaultRules = false

  @Option(help: "Open flows tracked at most (default 262144); the least recently active is evicted (and counted).")
  var maxFlows: Int?

  @Option(help: "Ports whose UDP and TCP payloads are DNS (default 53), comma-separated.")
  var dnsPorts: String?

  @Option(
    help: ArgumentHelp(
      "monitor: seconds between reports of flows still open (net_flow_tcp_update; default 60; 0: none).",
      valueName: "seconds"))
  var flowUpdateInterval: Int?

  @Option(help: "IP addresses the DNS cache names at most (default 100000; least recently used evicted).")
  var dnsCacheSize: Int?

  @Option(
    help: ArgumentHelp(
      "The sensor's identity in alert ids, outputs and NATS subjects (default: the host name).", valueName: "name"))
  var host: String?

  func validate() throws {
    if events != nil { do { _ = try selectionFlag() } catch { throw ValidationError(error.description) } }
    if let maxFlows, maxFlows <= 0 { throw ValidationError("--max-flows must be positive") }
    if let flowUpdateInterval, !SensorConfiguration.flowUpdateIntervals.contains(flowUpdateInterval) {
      throw ValidationError(
        "--flow-update-interval takes 0 to \(SensorConfiguration.flowUpdateIntervals.upperBound) seconds")
    }
    if dnsPorts != nil {
      guard let ports = parsedDNSPorts, !ports.isEmpty, ports.count <= Self.maximumDNSPorts else {
        throw ValidationError("--dns-ports takes 1 to \(Self.maximumDNSPorts) ports from 1 to 65535, comma-separated")
      }
    }
    if let dnsCacheSize, dnsCacheSize <= 0 { throw ValidationError("--dns-cache-size must be positive") }
    if let host, let problem = SensorIdentity.problem(host) {
      throw ValidationError("--\(problem)")
    }
  }

  private func selectionFlag() throws(EventSelectionError) -> Set<EventName>? {
    guard let events else { return nil }
    return events == "none" ? [] : try EventName.selection(from: events)
  }

  var parsedDNSPorts: [UInt16]? {
    guard let dnsPorts else { return nil }
    let ports = dnsPorts.split(separator: ",").map { UInt16($0.filter { $0 != " " }) }
    guard ports.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
    return ports.compactMap { $0 }
  }

  /// The file's settings (the named one, or the default path when it exists) with this command
  /// line's flags over them; nil, every problem printed, when the file does not validate.
  func settings() -> SensorConfiguration? {
    guard var settings = Self.configurationFile(config) else { return nil }
    if let selection = try? selectionFlag() { settings.events = selection }
    if !rulePaths.isEmpty { settings.rulePaths = rulePaths }
    if noDefaultRules { settings.defaultRules = false }
    if let maxFlows { settings.pipeline.flows.maximumOpenFlows = maxFlows }
    if let ports = parsedDNSPorts { settings.capture.dnsPorts = ports }
    if let dnsCacheSize { settings.pipeline.dns.cache.capacity = dnsCacheSize }
    if let flowUpdateInterval { settings.flowUpdateIntervalSeconds = flowUpdateInterval }
    if let host { settings.host = host }
    settings.pipeline.host = settings.host ?? hostName()
    return settings
  }

  /// The settings of the file `path` names, else of the default path when a file is there, else the
  /// defaults; nil, every problem printed, when the file does not validate.
  static func configurationFile(_ path: String?) -> SensorConfiguration? {
    let path =
      path
      ?? (FileManager.default.fileExists(atPath: SensorConfiguration.defaultPath)
        ? SensorConfiguration.defaultPath : nil)
    guard let path else { return SensorConfiguration() }
    do {
      return try ConfigurationLoader.load(path: path)
    } catch {
      for diagnostic in error.diagnostics { standardError(diagnostic.description) }
      return nil
    }
  }

  /// The rule chain; nil (every problem printed) when it does not validate.
  static func loadRules(_ settings: SensorConfiguration, logger: Logger? = nil) -> RuleSet? {
    // A rules: path of the file that does not exist is said where the file names it.
    // Only when it is missing (ENOENT): a path that cannot be searched is the loader's to explain.
    // The paths that exist are still loaded, so that their errors are said in the same run.
    var missing: Set<String> = []
    for path in settings.rulePaths where access(path, F_OK) != 0 && errno == ENOENT {
      guard var diagnostic = settings.rulePathPositions[path] else { continue }
      diagnostic.message = "rules: \(path): no such file or directory" + diagnostic.message
      RulesCommand.report(diagnostic, logger)
      missing.insert(path)
    }
    return RulesCommand.load(
      settings.rulePaths.filter { !missing.contains($0) }, builtIn: settings.defaultRules, logger: logger,
      errorsBefore: missing.count)
  }
}

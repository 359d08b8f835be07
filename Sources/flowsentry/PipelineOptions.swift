import ArgumentParser
import FlowsentryCore
import FlowsentryPipeline
import FlowsentryRules

/// What `monitor` and `replay` both set: which events to print, the rule chain, and the stages' bounds.
struct PipelineOptions: ParsableArguments {
  /// As many as the eBPF programs can watch (FS_DNS_PORTS_MAX); replay keeps the same bound.
  static let maximumDNSPorts = 8

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

  @Option(help: "Open flows tracked at most; the least recently active is evicted (and counted) beyond it.")
  var maxFlows = 262_144

  @Option(help: "Ports whose UDP and TCP payloads are DNS (answers from them, questions to them), comma-separated.")
  var dnsPorts = "53"

  @Option(help: "IP addresses the DNS cache names at most (least recently used evicted beyond it).")
  var dnsCacheSize = 100_000

  func validate() throws {
    do { _ = try selection() } catch { throw ValidationError(error.description) }
    guard maxFlows > 0 else { throw ValidationError("--max-flows must be positive") }
    guard let ports = parsedDNSPorts, !ports.isEmpty, ports.count <= Self.maximumDNSPorts else {
      throw ValidationError("--dns-ports takes 1 to \(Self.maximumDNSPorts) ports from 1 to 65535, comma-separated")
    }
    guard dnsCacheSize > 0 else { throw ValidationError("--dns-cache-size must be positive") }
  }

  func selection() throws(EventSelectionError) -> Set<EventName> {
    let text = events ?? (rulePaths.isEmpty ? "flows" : "none")
    return text == "none" ? [] : try EventName.selection(from: text)
  }

  var parsedDNSPorts: [UInt16]? {
    let ports = dnsPorts.split(separator: ",").map { UInt16($0.filter { $0 != " " }) }
    guard ports.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
    return ports.compactMap { $0 }
  }

  var configuration: Pipeline.Configuration {
    var configuration = Pipeline.Configuration()
    configuration.flows.maximumOpenFlows = maxFlows
    configuration.dns.cache.capacity = dnsCacheSize
    return configuration
  }

  /// The rule chain; nil (every problem printed) when it does not validate.
  func loadRules() -> RuleSet? {
    RulesCommand.load(rulePaths, builtIn: !noDefaultRules)
  }
}

import FlowsentryCore
import FlowsentryForwarding
import FlowsentryOutput
import FlowsentryPipeline

/// Everything a sensor run is set up with, from the configuration file and then the command line.
/// The defaults are the stages' own (`Pipeline.Configuration`, `CaptureConfiguration`),
/// written once there.
public struct SensorConfiguration: Sendable {
  public static let defaultPath = "/etc/flowsentry/config.yaml"
  public static let defaultSpoolDirectory = "/var/lib/flowsentry/spool"
  /// Where rules keep state across restarts (first-seen values): `state_dir`.
  public static let defaultStateDirectory = "/var/lib/flowsentry"

  /// monitor: the cgroup v2 directory watched; nil is the whole host.
  public var cgroup: String?
  /// The sensor's identity in alert ids, outputs and NATS subjects; nil: the host name.
  public var host: String?
  /// Events printed on stdout; nil: `flows`, or none when rule paths are given.
  public var events: Set<EventName>?
  /// Rule files and directories after the built-in rules and /etc/flowsentry/rules.d.
  public var rulePaths: [String] = []
  public var defaultRules = true
  public var pipeline = Pipeline.Configuration()
  public var capture = CaptureConfiguration()
  public var statsIntervalSeconds = 0
  public var spoolDirectory = SensorConfiguration.defaultSpoolDirectory
  /// Whether stdout is an output: by default, or when listed among `outputs`.
  public var printsToStandardOutput = true
  public var outputs: [OutputConfiguration] = []
  /// monitor: where `/metrics` is served (`127.0.0.1:9464`); nil, not served.
  public var metricsAddress: String?
  /// Where `metrics_address` is written in `file`, so that a port already taken is said there.
  public var metricsAddressPosition: Diagnostic?
  /// Log records on stderr: `auto` (text on a terminal, JSON lines otherwise), `text` or `json`.
  public var logFormat = LogFormat.auto
  /// The lowest level logged: trace, debug, info, notice, warning, error, critical.
  public var logLevel = LogLevel.info
  public static let logFormats = LogFormat.allCases.map(\.rawValue)
  public static let logLevels = LogLevel.allCases.map(\.rawValue)
  /// Where the settings came from, for `config show`: the file, or nil for the defaults alone.
  public var file: String?
  /// Where each `rules:` path is written in `file`, as a diagnostic at it whose message is only the
  /// hint a missing path needs (how a relative one was resolved): a path that does not exist is
  /// said there, not at a line 1 of the missing path itself.
  public var rulePathPositions: [String: Diagnostic] = [:]

  public init() {
    pipeline.rules.stateDirectory = Self.defaultStateDirectory
  }

  /// `state_dir`: the rule engine's state directory (its `first-seen/` files).
  public var stateDirectory: String {
    get { pipeline.rules.stateDirectory ?? Self.defaultStateDirectory }
    set { pipeline.rules.stateDirectory = newValue }
  }

  /// `flow_update_interval`: seconds between walks of the open sockets, and the age past which the
  /// flow tracker reports a flow still open; 0 reports none (the start-up walk still runs).
  public var flowUpdateIntervalSeconds: Int {
    get { capture.flowUpdateIntervalSeconds }
    set {
      capture.flowUpdateIntervalSeconds = newValue
      pipeline.flows.updateIntervalNanoseconds = Int64(newValue) * 1_000_000_000
    }
  }
  /// At most a week.
  public static let flowUpdateIntervals = 0...604_800

  /// `HOST:PORT` or `[IPV6]:PORT` as a host and a port; nil when it is neither.
  public static func parseAddress(_ text: String) -> (host: String, port: Int)? {
    HostAndPort.parse(text)
  }

  /// The events stdout prints, once rule paths are known.
  public var effectiveEvents: Set<EventName> {
    events ?? (rulePaths.isEmpty ? [.netFlowTCPBegin, .netFlowTCPEnd] : [])
  }

  /// The effective settings as YAML that `--config` accepts (`flowsentry config show`).
  public var yaml: String {
    func quoted(_ text: String) -> String {
      let plain = !text.isEmpty && text.allSatisfy { $0.isLetter || $0.isNumber || "/._-+:@".contains($0) }
      guard !plain else { return text }
      return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        + "\""
    }
    var lines = [
      "# effective configuration"
        + (file.map { " (from \($0) and the command line)" } ?? " (defaults and the command line)")
    ]
    lines.append("host: " + (host.map(quoted) ?? "null  # the host name"))
    lines.append("cgroup: " + (cgroup.map(quoted) ?? "null  # the whole host"))
    lines.append(
      "events: " + (effectiveEvents.isEmpty ? "none" : effectiveEvents.map(\.rawValue).sorted().joined(separator: ",")))
    lines.append("default_rules: \(defaultRules)")
    lines.append("rules: [" + rulePaths.map(quoted).joined(separator: ", ") + "]")
    lines.append("max_flows: \(pipeline.flows.maximumOpenFlows)")
    lines.append("dns:")
    lines.append("  ports: [" + capture.dnsPorts.map(String.init).joined(separator: ", ") + "]")
    lines.append("  cache_size: \(pipeline.dns.cache.capacity)")
    lines.append("  pending_questions: \(pipeline.dns.pendingQuestions)")
    lines.append("  question_timeout: \(pipeline.dns.questionTimeoutNanoseconds / 1_000_000_000)")
    lines.append("ring_buffer_bytes: \(capture.ringBufferBytes)")
    lines.append("flow_update_interval: \(flowUpdateIntervalSeconds)")
    lines.append("stats_interval: \(statsIntervalSeconds)")
    lines.append("spool_dir: " + quoted(spoolDirectory))
    lines.append("state_dir: " + quoted(stateDirectory))
    lines.append("metrics_address: " + (metricsAddress.map(quoted) ?? "null  # not served"))
    lines.append("logging:")
    lines.append("  format: \(logFormat.rawValue)")
    lines.append("  level: \(logLevel.rawValue)")
    lines.append("outputs:")
    if printsToStandardOutput { lines.append("  - stdout") }
    for output in outputs {
      lines.append("  - url: " + quoted(output.address))
      lines.append("    name: " + quoted(output.name))
      lines.append("    format: \(output.format.rawValue)")
      lines.append(
        "    events: "
          + (output.events.isEmpty ? "none" : output.events.map(\.rawValue).sorted().joined(separator: ",")))
      if output.kind.rawValue.hasPrefix("syslog") || output.kind == .relp {
        let facility = SyslogFacility.name(output.facility)
        lines.append("    facility: \(facility)")
      }
      if output.kind == .http || output.kind == .https {
        lines.append("    profile: \(output.http.profile.rawValue)")
        if output.http.profile == .elasticsearch { lines.append("    index: " + quoted(output.http.index)) }
        if output.http.ndjson { lines.append("    ndjson: true") }
        if output.http.gzip { lines.append("    gzip: true") }
        lines.append("    timeout_ms: \(output.http.timeoutMilliseconds)")
        lines.append("    batch_bytes: \(output.http.batchBytes)")
        if !output.http.headers.isEmpty {
          lines.append("    headers:")
          for (name, value) in output.http.headers.sorted(by: { $0.key < $1.key }) {
            lines.append("      \(quoted(name)): \(quoted(value))")
          }
        }
        // Secrets show where they come from, never their value.
        for (key, secret) in [
          ("token", output.http.token), ("api_key", output.http.apiKey),
          ("basic_auth", output.http.basicAuthentication),
        ] {
          switch secret {
          case .file(let path)?: lines.append("    \(key)_file: " + quoted(path))
          case .environment(let name)?: lines.append("    \(key)_env: " + quoted(name))
          case nil: break
          }
        }
      }
      if output.kind == .file {
        lines.append("    max_bytes: \(output.fileMaximumBytes)")
        lines.append("    keep: \(output.filesKept)")
      }
      if let ca = output.tls.caFile { lines.append("    ca: " + quoted(ca)) }
      if let certificate = output.tls.certificateFile { lines.append("    cert: " + quoted(certificate)) }
      if let key = output.tls.keyFile { lines.append("    key: " + quoted(key)) }
      if let name = output.tls.serverName { lines.append("    server_name: " + quoted(name)) }
      if !output.tls.verify { lines.append("    tls_verify: false") }
      lines.append("    batch: \(output.batchRecords)")
      lines.append("    queue: \(output.queueCapacity)")
      lines.append("    spool_max_bytes: \(output.spool.maximumBytes)")
      lines.append("    drain_timeout_ms: \(output.drainTimeoutMilliseconds)")
    }
    return lines.joined(separator: "\n") + "\n"
  }
}

enum SyslogFacility {
  static func name(_ number: UInt8) -> String {
    SyslogMessage.facilities.first { $0.value == number }?.key ?? String(number)
  }
}

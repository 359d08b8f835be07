import FlowsentryCore
import FlowsentryForwarding
import FlowsentryOutput
import FlowsentryRules
import Foundation
import Yams

/// Reads a configuration file into `SensorConfiguration`, reporting every problem at once, each
/// with its file, line and column (the same `Diagnostic` as the rule loader's).
public enum ConfigurationLoader {
  public static let keys = [
    "cgroup", "events", "rules", "default_rules", "max_flows", "dns", "ring_buffer_bytes", "stats_interval",
    "spool_dir", "state_dir", "outputs", "metrics_address", "logging", "host", "flow_update_interval",
  ]
  static let dnsKeys = ["ports", "cache_size", "pending_questions", "question_timeout"]

  public static func load(path: String) throws(ConfigurationError) -> SensorConfiguration {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
      throw ConfigurationError(diagnostics: [
        Diagnostic(.error, file: path, line: 1, column: 1, message: "cannot read the configuration file")
      ])
    }
    return try load(text: text, file: path)
  }

  public static func load(text: String, file: String) throws(ConfigurationError) -> SensorConfiguration {
    var reader = Reader(file: file, lines: text.components(separatedBy: "\n"))
    var configuration = SensorConfiguration()
    configuration.file = file
    let root: Node?
    do {
      root = try Yams.compose(yaml: text)
    } catch {
      let position = YAMLErrorText.position(error) ?? (1, 1)
      throw ConfigurationError(diagnostics: [
        reader.diagnostic(position.line, position.column, "YAML: \(YAMLErrorText.message(error))")
      ])
    }
    guard let root else { return configuration }
    guard case .mapping(let mapping) = root else {
      throw ConfigurationError(diagnostics: [
        reader.diagnostic(root, "a configuration file is a mapping of keys (cgroup:, rules:, outputs:, …)")
      ])
    }
    let directory = URL(fileURLWithPath: file).deletingLastPathComponent().path
    for (keyNode, value) in mapping {
      guard let key = keyNode.string else {
        reader.report(keyNode, "keys are strings")
        continue
      }
      switch key {
      case "host":
        if case .scalar(let scalar) = value, ["null", "~", ""].contains(scalar.string) { continue }
        if let host = reader.string(value, key) {
          if let problem = SensorIdentity.problem(host) {
            reader.report(value, problem)
            continue
          }
          configuration.host = host
        }
      case "cgroup":
        // null (or ~) is the default: the whole host.
        if case .scalar(let scalar) = value, ["null", "~", ""].contains(scalar.string) { continue }
        configuration.cgroup = reader.string(value, key)
      case "events":
        guard let text = reader.stringOrList(value, key) else { continue }
        if text == "none" {
          configuration.events = []
        } else {
          do { configuration.events = try EventName.selection(from: text) } catch {
            reader.report(value, error.description)
          }
        }
      case "rules":
        configuration.rulePaths = reader.list(value, key).compactMap { item in
          guard let path = reader.string(item, key) else { return nil }
          let resolved = path.hasPrefix("/") ? path : directory + "/" + path
          configuration.rulePathPositions[resolved] = reader.diagnostic(
            item, path.hasPrefix("/") ? "" : " (a relative path is read from the configuration file's directory)")
          return resolved
        }
      case "default_rules": configuration.defaultRules = reader.bool(value, key) ?? true
      case "max_flows":
        if let number = reader.integer(value, key, 1...100_000_000) {
          configuration.pipeline.flows.maximumOpenFlows = number
        }
      case "ring_buffer_bytes":
        if let number = reader.integer(value, key, 4096...(1 << 30)) {
          if number & (number - 1) != 0 {
            reader.report(value, "ring_buffer_bytes must be a power of two")
          } else {
            configuration.capture.ringBufferBytes = UInt32(number)
          }
        }
      case "flow_update_interval":
        if let number = reader.integer(value, key, SensorConfiguration.flowUpdateIntervals) {
          configuration.flowUpdateIntervalSeconds = number
        }
      case "stats_interval":
        if let number = reader.integer(value, key, 0...86_400) { configuration.statsIntervalSeconds = number }
      case "spool_dir": if let path = reader.string(value, key) { configuration.spoolDirectory = path }
      case "state_dir": if let path = reader.string(value, key) { configuration.stateDirectory = path }
      case "metrics_address":
        if case .scalar(let scalar) = value, ["null", "~", ""].contains(scalar.string) { continue }
        guard let text = reader.string(value, key) else { continue }
        guard SensorConfiguration.parseAddress(text) != nil else {
          reader.report(value, "metrics_address takes HOST:PORT, e.g. 127.0.0.1:9464")
          continue
        }
        configuration.metricsAddress = text
        configuration.metricsAddressPosition = reader.diagnostic(value, "")
      case "dns": readDNS(value, &configuration, &reader)
      case "logging": readLogging(value, &configuration, &reader)
      case "outputs": readOutputs(value, &configuration, &reader)
      default:
        reader.report(keyNode, "unknown key '\(key)'; known: \(keys.joined(separator: ", "))")
      }
    }
    guard reader.diagnostics.isEmpty else { throw ConfigurationError(diagnostics: reader.diagnostics) }
    return configuration
  }

  private static func readDNS(_ node: Node, _ configuration: inout SensorConfiguration, _ reader: inout Reader) {
    guard case .mapping(let mapping) = node else {
      return reader.report(node, "dns: takes a mapping (ports, cache_size, pending_questions, question_timeout)")
    }
    for (keyNode, value) in mapping {
      switch keyNode.string ?? "" {
      case "ports":
        let ports = reader.list(value, "ports").compactMap { reader.integer($0, "ports", 1...65_535) }
        if ports.isEmpty || ports.count > 8 {
          reader.report(value, "ports takes 1 to 8 ports")
        } else {
          configuration.capture.dnsPorts = ports.map { UInt16($0) }
        }
      case "cache_size":
        if let number = reader.integer(value, "cache_size", 1...100_000_000) {
          configuration.pipeline.dns.cache.capacity = number
        }
      case "pending_questions":
        if let number = reader.integer(value, "pending_questions", 1...10_000_000) {
          configuration.pipeline.dns.pendingQuestions = number
        }
      case "question_timeout":
        if let seconds = reader.integer(value, "question_timeout", 1...3_600) {
          configuration.pipeline.dns.questionTimeoutNanoseconds = Int64(seconds) * 1_000_000_000
        }
      default:
        reader.report(
          keyNode, "unknown key '\(keyNode.string ?? "")' in dns; known: \(dnsKeys.joined(separator: ", "))")
      }
    }
  }

  private static func readLogging(_ node: Node, _ configuration: inout SensorConfiguration, _ reader: inout Reader) {
    guard case .mapping(let mapping) = node else {
      return reader.report(node, "logging: takes a mapping (format, level)")
    }
    for (keyNode, value) in mapping {
      let key = keyNode.string ?? ""
      let known =
        key == "format" ? SensorConfiguration.logFormats : key == "level" ? SensorConfiguration.logLevels : nil
      guard let known else {
        reader.report(keyNode, "unknown key '\(key)' in logging; known: format, level")
        continue
      }
      guard let text = reader.string(value, key) else { continue }
      if key == "format", let format = LogFormat(rawValue: text) {
        configuration.logFormat = format
      } else if key == "level", let level = LogLevel(rawValue: text) {
        configuration.logLevel = level
      } else {
        reader.report(value, "logging \(key) takes one of \(known.joined(separator: ", "))")
      }
    }
  }

  private static func readOutputs(_ node: Node, _ configuration: inout SensorConfiguration, _ reader: inout Reader) {
    configuration.printsToStandardOutput = false
    var names: Set<String> = []
    for item in reader.list(node, "outputs") {
      if item.string == "stdout" {
        configuration.printsToStandardOutput = true
        continue
      }
      guard case .mapping(let mapping) = item else {
        reader.report(item, "an output is 'stdout' or a mapping with url: and its options")
        continue
      }
      guard let urlNode = mapping["url"], let url = reader.string(urlNode, "url") else {
        reader.report(item, "an output needs url: (syslog+tcp://…, syslog+tls://…, syslog+udp://…, https://…)")
        continue
      }
      // The URL (a short form, options included if it has them), then each key as the short
      // form's query would set it, each problem at its own key; what holds only for the whole
      // output at the item.
      var output: OutputConfiguration
      do {
        output = try OutputSpecification.parse(url)
      } catch {
        // A URL with userinfo carries a secret: the line is not echoed back.
        reader.report(urlNode, error.reason, showingSource: !url.contains("@"))
        continue
      }
      var failed = false
      for (keyNode, value) in mapping where keyNode.string != "url" {
        guard let key = keyNode.string else { continue }
        var values: [String] = []
        switch value {
        case .scalar(let scalar): values = [scalar.string]
        case .sequence(let items): values = [items.compactMap(\.string).joined(separator: ",")]
        case .mapping(let headers) where key == "headers":
          values = headers.map { "\($0.key.string ?? ""):\($0.value.string ?? "")" }
        default:
          reader.report(value, "\(key) takes a value")
          failed = true
          continue
        }
        for text in values {
          do throws(OutputSpecificationError) {
            try OutputSpecification.apply(
              key == "headers" ? "header" : key, text, to: &output,
              fail: { OutputSpecificationError(specification: url, reason: $0) })
          } catch {
            // A line that holds a secret is never echoed back.
            let secret = ["token", "api_key", "basic_auth", "password", "secret", "header", "headers"].contains(key)
            reader.report(keyNode, error.reason, showingSource: !secret)
            failed = true
          }
        }
      }
      guard !failed else { continue }
      do throws(OutputSpecificationError) {
        try OutputSpecification.finish(&output) { OutputSpecificationError(specification: url, reason: $0) }
      } catch {
        reader.report(item, error.reason)
        continue
      }
      if names.contains(output.name) {
        reader.report(item, "two outputs are named \(output.name); give one a name: of its own")
      }
      names.insert(output.name)
      configuration.outputs.append(output)
    }
  }
}

/// Typed reads of YAML nodes that record a positioned problem instead of failing.
struct Reader {
  var file: String
  var lines: [String]
  var diagnostics: [Diagnostic] = []

  func diagnostic(_ line: Int, _ column: Int, _ message: String) -> Diagnostic {
    Diagnostic(
      .error, file: file, line: line, column: column, message: message,
      sourceLine: lines.indices.contains(line - 1) ? lines[line - 1] : nil)
  }

  func diagnostic(_ node: Node, _ message: String) -> Diagnostic {
    diagnostic(node.mark?.line ?? 1, node.mark?.column ?? 1, message)
  }

  mutating func report(_ node: Node, _ message: String, showingSource: Bool = true) {
    var found = diagnostic(node, message)
    if !showingSource { found.sourceLine = nil }
    diagnostics.append(found)
  }

  mutating func string(_ node: Node, _ key: String) -> String? {
    guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
      report(node, "\(key) takes a string")
      return nil
    }
    return scalar.string
  }

  mutating func bool(_ node: Node, _ key: String) -> Bool? {
    guard let value = node.bool else {
      report(node, "\(key) takes true or false")
      return nil
    }
    return value
  }

  mutating func integer(_ node: Node, _ key: String, _ range: ClosedRange<Int>) -> Int? {
    guard let value = node.checkedInt, range.contains(value) else {
      report(node, "\(key) takes an integer from \(range.lowerBound) to \(range.upperBound)")
      return nil
    }
    return value
  }

  mutating func list(_ node: Node, _ key: String) -> [Node] {
    guard case .sequence(let items) = node else {
      report(node, "\(key) takes a list")
      return []
    }
    return Array(items)
  }

  mutating func strings(_ node: Node, _ key: String) -> [String] {
    list(node, key).compactMap { string($0, key) }
  }

  /// `flows` or `[flows, net_packet_dns]`, as one comma-separated text.
  mutating func stringOrList(_ node: Node, _ key: String) -> String? {
    if case .sequence = node { return strings(node, key).joined(separator: ",") }
    return string(node, key)
  }
}

/// Every problem a configuration file has, each positioned.
public struct ConfigurationError: Error, CustomStringConvertible {
  public var diagnostics: [Diagnostic]
  public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

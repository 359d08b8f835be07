import FlowsentryCore
import FlowsentryOutput

/// `--output SPEC`: the short form of an output, `SCHEME://HOST[:PORT][?KEY=VALUE&…]`, the same
/// keys as in a configuration file's `outputs:` list.
public enum OutputSpecification {
  public static let defaultPorts: [OutputConfiguration.Kind: UInt16] = [
    .syslogTCP: 514, .syslogTLS: 6514, .syslogUDP: 514,
  ]

  /// Keys the short form takes, with what each sets.
  public static let keys: [(key: String, meaning: String)] = [
    ("name", "the output's name in logs and counters, and its spool subdirectory"),
    ("format", "message body: json (as stdout), ecs or cef"),
    ("events", "events sent besides alerts, as --events takes them (default: none)"),
    ("facility", "syslog facility name (default local0)"),
    ("ca", "PEM file of the CAs that may sign the receiver's certificate (TLS)"),
    ("cert", "PEM client certificate, for mutual TLS"),
    ("key", "PEM private key of the client certificate"),
    ("server_name", "the name the receiver's certificate must carry (default: the host)"),
    ("tls_verify", "false turns certificate verification off (a warning is printed)"),
    ("batch", "records per write burst"),
    ("queue", "messages held in memory between the pipeline and the output"),
    ("spool_max_bytes", "the output's spool size; full, the lowest severity is dropped first"),
    ("max_datagram", "UDP: longer messages are cut (and counted)"),
  ]

  public static func parse(_ text: String) throws(OutputSpecificationError) -> OutputConfiguration {
    func fail(_ reason: String) -> OutputSpecificationError {
      OutputSpecificationError(specification: text, reason: reason)
    }
    guard let schemeEnd = text.range(of: "://") else {
      throw fail("expected SCHEME://HOST:PORT, SCHEME one of \(OutputConfiguration.Kind.allCases.map(\.rawValue))")
    }
    let scheme = String(text[..<schemeEnd.lowerBound])
    guard let kind = OutputConfiguration.Kind(rawValue: scheme) else {
      let planned = ["relp", "https", "http", "file"].contains(scheme) ? " (not available yet)" : ""
      throw fail("unknown output '\(scheme)'\(planned); known: \(OutputConfiguration.Kind.allCases.map(\.rawValue))")
    }
    let rest = text[schemeEnd.upperBound...]
    let authority = rest.prefix { $0 != "?" && $0 != "/" }
    let query = rest.drop { $0 != "?" }.dropFirst()
    var host: Substring
    var portText: Substring?
    if authority.hasPrefix("[") {
      guard let close = authority.firstIndex(of: "]") else { throw fail("an IPv6 address needs its closing ']'") }
      host = authority[authority.index(after: authority.startIndex)..<close]
      let after = authority[authority.index(after: close)...]
      if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { throw fail("bad address") }
    } else if let colon = authority.lastIndex(of: ":") {
      host = authority[..<colon]
      portText = authority[authority.index(after: colon)...]
    } else {
      host = authority
    }
    guard !host.isEmpty else { throw fail("no host") }
    var port = defaultPorts[kind] ?? 514
    if let portText {
      guard let value = UInt16(portText), value > 0 else { throw fail("port '\(portText)' is not 1 to 65535") }
      port = value
    }
    var configuration = OutputConfiguration(
      name:
        "\(kind.rawValue.replacingOccurrences(of: "+", with: "-"))-\(host.replacingOccurrences(of: ":", with: "_"))-\(port)",
      kind: kind, host: String(host), port: port)
    for pair in query.split(separator: "&") where !pair.isEmpty {
      let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      guard parts.count == 2 else { throw fail("'\(pair)' is not KEY=VALUE") }
      try apply(String(parts[0]), String(parts[1]), to: &configuration, fail: fail)
    }
    if kind != .syslogTLS,
      configuration.tls != OutputConfiguration.TLS()
    {
      throw fail("TLS keys (ca, cert, key, server_name, tls_verify) apply to syslog+tls only")
    }
    if (configuration.tls.certificateFile == nil) != (configuration.tls.keyFile == nil) {
      throw fail("mutual TLS needs both cert and key")
    }
    return configuration
  }

  /// Sets one key (shared with the configuration file's loader, which reports positions).
  public static func apply(
    _ key: String, _ value: String, to configuration: inout OutputConfiguration,
    fail: (String) -> OutputSpecificationError
  ) throws(OutputSpecificationError) {
    func number(_ range: ClosedRange<Int>) throws(OutputSpecificationError) -> Int {
      guard let parsed = Int(value), range.contains(parsed) else {
        throw fail("\(key) takes \(range.lowerBound) to \(range.upperBound), not '\(value)'")
      }
      return parsed
    }
    switch key {
    case "name":
      guard !value.isEmpty, value.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }), value != ".",
        value != ".."
      else { throw fail("name takes letters, digits, '-', '_' and '.'") }
      configuration.name = value
    case "format":
      guard let format = OutputConfiguration.Format(rawValue: value) else {
        throw fail("unknown format '\(value)'; known: \(OutputConfiguration.Format.allCases.map(\.rawValue))")
      }
      configuration.format = format
    case "events":
      do {
        configuration.events = value == "none" ? [] : try EventName.selection(from: value)
      } catch {
        throw fail(error.description)
      }
    case "facility":
      guard let facility = SyslogMessage.facilities[value] else {
        throw fail(
          "unknown facility '\(value)'; known: \(SyslogMessage.facilities.keys.sorted().joined(separator: ", "))")
      }
      configuration.facility = facility
    case "ca": configuration.tls.caFile = value
    case "cert": configuration.tls.certificateFile = value
    case "key": configuration.tls.keyFile = value
    case "server_name": configuration.tls.serverName = value
    case "tls_verify":
      guard value == "true" || value == "false" else { throw fail("tls_verify takes true or false") }
      configuration.tls.verify = value == "true"
    case "batch": configuration.batchRecords = try number(1...65_536)
    case "queue": configuration.queueCapacity = try number(16...10_000_000)
    case "spool_max_bytes": configuration.spool.maximumBytes = Int64(try number(65_536...(1 << 40)))
    case "max_datagram": configuration.maximumDatagramBytes = try number(480...65_000)
    default:
      throw fail("unknown key '\(key)'; known: \(keys.map(\.key).joined(separator: ", "))")
    }
  }
}

public struct OutputSpecificationError: Error, CustomStringConvertible {
  public var specification: String
  public var reason: String
  public var description: String { "--output \(specification): \(reason)" }
}

import FlowsentryCore
import FlowsentryOutput
import Foundation

/// `--output SPEC`: the short form of an output, `SCHEME://HOST[:PORT][?KEY=VALUE&…]`, the same
/// keys as in a configuration file's `outputs:` list.
public enum OutputSpecification {
  public static let defaultPorts: [OutputConfiguration.Kind: UInt16] = [
    .syslogTCP: 514, .syslogTLS: 6514, .syslogUDP: 514, .relp: 20514, .https: 443, .http: 80,
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
    (
      "drain_timeout_ms",
      "at stop (replay's end, the monitor's shutdown), how long the output may deliver what it holds"
    ),
    ("max_datagram", "UDP: longer messages are cut (and counted)"),
    ("max_bytes", "file: the size at which the file rotates"),
    ("keep", "file: how many files are kept (FILE, FILE.1, …)"),
    ("profile", "HTTP: splunk-hec, elasticsearch or webhook"),
    ("index", "Elasticsearch: the index or data stream (default flowsentry-alerts)"),
    ("ndjson", "webhook: true sends NDJSON instead of a JSON array"),
    ("token_file", "HEC token from a file (its first line)"),
    ("token_env", "HEC token from an environment variable"),
    ("api_key_file", "Elasticsearch API key from a file"),
    ("api_key_env", "Elasticsearch API key from an environment variable"),
    ("basic_auth_file", "user:password for basic authentication, from a file"),
    ("basic_auth_env", "user:password for basic authentication, from an environment variable"),
    ("header", "an extra request header, Name:Value (repeatable; credential headers are refused)"),
    ("timeout_ms", "HTTP: the time a request may take"),
    ("gzip", "HTTP: true compresses request bodies (Content-Encoding: gzip)"),
    ("batch_bytes", "HTTP: bytes per request at most"),
  ]

  public static func parse(_ text: String) throws(OutputSpecificationError) -> OutputConfiguration {
    func fail(_ reason: String) -> OutputSpecificationError {
      OutputSpecificationError(specification: redacted(text), reason: reason)
    }
    guard let schemeEnd = text.range(of: "://") else {
      throw fail("expected SCHEME://HOST:PORT, SCHEME one of \(OutputConfiguration.Kind.allCases.map(\.rawValue))")
    }
    let scheme = String(text[..<schemeEnd.lowerBound])
    guard let kind = OutputConfiguration.Kind(rawValue: scheme) else {
      let planned = ""
      throw fail("unknown output '\(scheme)'\(planned); known: \(OutputConfiguration.Kind.allCases.map(\.rawValue))")
    }
    let rest = text[schemeEnd.upperBound...]
    if kind == .file {
      // file:///var/log/flowsentry/alerts.jsonl — the path is all there is (the host kept it).
      let path = String(rest.prefix { $0 != "?" })
      guard path.hasPrefix("/"), path.count > 1, !path.hasSuffix("/") else {
        throw fail("file:// takes an absolute file path, file:///var/log/flowsentry/alerts.jsonl")
      }
      var configuration = OutputConfiguration(
        name: "file" + path.replacingOccurrences(of: "/", with: "-"), kind: .file, host: path, port: 0)
      try applyQuery(rest.drop(while: { $0 != "?" }).dropFirst(), to: &configuration, fail: fail)
      try finish(&configuration, fail: fail)
      return configuration
    }
    let authority = rest.prefix { $0 != "?" && $0 != "/" }
    if authority.contains("@") {
      throw fail(
        "credentials in the URL (USER:PASSWORD@HOST) are refused: they would show in logs, the spool's "
          + "directory and the process list; use basic_auth_file or basic_auth_env")
    }
    let query = rest.drop { $0 != "?" }.dropFirst()
    if kind == .nats {
      var configuration = OutputConfiguration(name: "", kind: .nats, host: "", port: 0)
      configuration.nats.servers = try NATSOutputSpecification.servers(authority, fail: fail)
      (configuration.host, configuration.port) = (
        configuration.nats.servers[0].host, configuration.nats.servers[0].port
      )
      configuration.name = "nats-\(configuration.host.replacingOccurrences(of: ":", with: "_"))-\(configuration.port)"
      for pair in query.split(separator: "&") where !pair.isEmpty {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw fail("'\(pair)' is not KEY=VALUE") }
        try apply(String(parts[0]), String(parts[1]), to: &configuration, fail: fail)
      }
      try finish(&configuration, fail: fail)
      return configuration
    }
    let path = rest.dropFirst(authority.count).prefix { $0 != "?" }
    let host: String
    let port: UInt16
    do {
      let parsed = try HostAndPort.parse(authority: authority, defaultPort: Int(defaultPorts[kind] ?? 514))
      (host, port) = (parsed.host, UInt16(parsed.port))
    } catch {
      throw fail(error.reason)
    }
    var configuration = OutputConfiguration(
      name:
        "\(kind.rawValue.replacingOccurrences(of: "+", with: "-"))-\(host.replacingOccurrences(of: ":", with: "_"))-\(port)",
      kind: kind, host: host, port: port)
    configuration.http.path = String(path)
    try applyQuery(query, to: &configuration, fail: fail)
    try finish(&configuration, fail: fail)
    return configuration
  }

  /// `KEY=VALUE&…`, each value percent-decoded (`%20` is a space, `%26` an ampersand; `+` stays).
  static func applyQuery(
    _ query: Substring, to configuration: inout OutputConfiguration, fail: (String) -> OutputSpecificationError
  ) throws(OutputSpecificationError) {
    for pair in query.split(separator: "&") where !pair.isEmpty {
      let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      guard parts.count == 2 else { throw fail("'\(redacted(String(pair)))' is not KEY=VALUE") }
      let key = String(parts[0])
      guard let value = String(parts[1]).removingPercentEncoding else {
        throw fail("the value of \(key) has a '%' that is not followed by two hexadecimal digits")
      }
      try apply(key, value, to: &configuration, fail: fail)
    }
  }

  /// Header names that carry credentials: refused as `header=`, since they would be in the open.
  static let credentialHeaders: Set<String> = [
    "authorization", "proxy-authorization", "cookie", "x-api-key", "x-auth-token",
  ]

  /// What holds only for the whole output, once every key was applied: default paths, and the
  /// keys that do not belong to its kind.
  public static func finish(
    _ configuration: inout OutputConfiguration, fail: (String) -> OutputSpecificationError
  ) throws(OutputSpecificationError) {
    let kind = configuration.kind
    let path = configuration.http.path
    let isHTTP = kind == .http || kind == .https
    if kind == .nats { try NATSOutputSpecification.finish(&configuration, fail: fail) }
    if kind != .file,
      configuration.fileMaximumBytes != OutputConfiguration(name: "", kind: kind, host: "", port: 0).fileMaximumBytes
        || configuration.filesKept != OutputConfiguration(name: "", kind: kind, host: "", port: 0).filesKept
    {
      throw fail("max_bytes and keep apply to file:// only")
    }
    if isHTTP {
      configuration.http.path = path.isEmpty ? "/" : path
      switch configuration.http.profile {
      case .splunkHEC where configuration.http.path == "/": configuration.http.path = "/services/collector/event"
      case .elasticsearch where configuration.http.path == "/":
        configuration.http.path = "/\(configuration.http.index)/_bulk"
      default: break
      }
      if kind == .http, !["127.0.0.1", "::1", "localhost"].contains(configuration.host),
        !configuration.host.hasPrefix("127.")
      {
        throw fail("http:// is for a receiver on this host (loopback) only; use https://")
      }
    } else if kind != .file, !path.isEmpty, path != "/" {
      throw fail("a syslog output has no path")
    }
    if kind != .syslogTLS, kind != .https, kind != .nats, configuration.tls != OutputConfiguration.TLS() {
      throw fail("TLS keys (ca, cert, key, server_name, tls_verify) apply to syslog+tls and https only (and nats://)")
    }
    if configuration.http.profile == .elasticsearch, configuration.format == .cef {
      throw fail("Elasticsearch stores JSON documents: format json or ecs")
    }
    var withoutPath = configuration.http
    withoutPath.path = OutputConfiguration.HTTP().path
    if !isHTTP, withoutPath != OutputConfiguration.HTTP() {
      throw fail(
        "HTTP keys (profile, index, ndjson, token_*, api_key_*, basic_auth_*, header, …) apply to http(s) only")
    }
    if (configuration.tls.certificateFile == nil) != (configuration.tls.keyFile == nil) {
      throw fail("mutual TLS needs both cert and key")
    }
    if !isHTTP { configuration.http.path = "" }
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
    case "max_bytes": configuration.fileMaximumBytes = Int64(try number(4_096...(1 << 40)))
    case "keep": configuration.filesKept = try number(1...1_000)
    case "drain_timeout_ms": configuration.drainTimeoutMilliseconds = try number(0...3_600_000)
    case "profile":
      guard let profile = OutputConfiguration.HTTPProfile(rawValue: value) else {
        throw fail("unknown profile '\(value)'; known: \(OutputConfiguration.HTTPProfile.allCases.map(\.rawValue))")
      }
      configuration.http.profile = profile
    case "index":
      guard !value.isEmpty, !value.contains("/"), !value.contains(" ") else { throw fail("bad index name") }
      configuration.http.index = value
    case "ndjson":
      guard value == "true" || value == "false" else { throw fail("ndjson takes true or false") }
      configuration.http.ndjson = value == "true"
    case "token_file": configuration.http.token = .file(value)
    case "token_env": configuration.http.token = .environment(value)
    case "api_key_file": configuration.http.apiKey = .file(value)
    case "api_key_env": configuration.http.apiKey = .environment(value)
    case "basic_auth_file": configuration.http.basicAuthentication = .file(value)
    case "basic_auth_env": configuration.http.basicAuthentication = .environment(value)
    case "token", "api_key", "basic_auth", "password":
      throw fail(
        "secrets are never written out in the open (command line, configuration): use \(key)_file or \(key)_env")
    case "header":
      guard let colon = value.firstIndex(of: ":"), colon != value.startIndex else {
        throw fail("header takes Name:Value")
      }
      let name = String(value[..<colon])
      guard name.utf8.allSatisfy({ (33...126).contains($0) && $0 != UInt8(ascii: ":") }) else {
        throw fail("a header name takes printable ASCII without spaces")
      }
      guard !credentialHeaders.contains(name.lowercased()) else {
        throw fail(
          "header \(name) carries credentials, never written out in the open: use token_file, api_key_file or "
            + "basic_auth_file (or their _env forms)")
      }
      let headerValue = String(value[value.index(after: colon)...])
      guard headerValue.unicodeScalars.allSatisfy({ $0.value >= 32 && $0.value != 127 }) else {
        throw fail("the value of header \(name) holds a control character")
      }
      configuration.http.headers[name] = headerValue
    case "timeout_ms": configuration.http.timeoutMilliseconds = try number(100...600_000)
    case "gzip":
      guard value == "true" || value == "false" else { throw fail("gzip takes true or false") }
      configuration.http.gzip = value == "true"
    case "batch_bytes": configuration.http.batchBytes = try number(1_024...(64 << 20))
    default:
      if configuration.kind == .nats, try NATSOutputSpecification.apply(key, value, to: &configuration, fail: fail) {
        return
      }
      let known = keys.map(\.key) + (configuration.kind == .nats ? NATSOutputSpecification.keys.map(\.key) : [])
      throw fail("unknown key '\(key)'; known: \(known.joined(separator: ", "))")
    }
  }
}

extension OutputSpecification {
  /// The spec with the values of secret-looking keys replaced, for error messages.
  /// A URL's user information (`USER:PASSWORD@`) and credential headers' values go too.
  static func redacted(_ text: String) -> String {
    var text = text
    if let schemeEnd = text.range(of: "://") {
      let authorityEnd = text[schemeEnd.upperBound...].firstIndex { $0 == "/" || $0 == "?" } ?? text.endIndex
      if let at = text[schemeEnd.upperBound..<authorityEnd].lastIndex(of: "@") {
        text.replaceSubrange(schemeEnd.upperBound...at, with: "…@")
      }
    }
    guard let question = text.firstIndex(of: "?") else {
      // A lone pair (`KEY=VALUE`) is redacted the same way.
      return text.contains("://") ? text : redactedPair(Substring(text))
    }
    let pairs = text[text.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map(
      redactedPair)
    return text[...question] + pairs.joined(separator: "&")
  }

  private static func redactedPair(_ pair: Substring) -> String {
    let key = pair.prefix { $0 != "=" }
    let value = pair.dropFirst(key.count + 1)
    let headerName = (value.removingPercentEncoding ?? String(value)).prefix { $0 != ":" }.lowercased()
    let secret =
      ["token", "api_key", "basic_auth", "password", "secret"].contains(String(key))
      || (key == "header" && credentialHeaders.contains(headerName))
    return secret ? "\(key)=…" : String(pair)
  }
}

public struct OutputSpecificationError: Error, CustomStringConvertible {
  public var specification: String
  public var reason: String

  public init(specification: String, reason: String) {
    self.specification = specification
    self.reason = reason
  }

  public var description: String { "--output \(specification): \(reason)" }
}

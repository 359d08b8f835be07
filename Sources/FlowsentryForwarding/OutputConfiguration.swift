import FlowsentryCore
import FlowsentryOutput
import FlowsentrySpool
import Foundation

/// Everything one forwarding output is: where it sends, what, in which format, and its bounds.
public struct OutputConfiguration: Sendable, Equatable {
  public enum Kind: String, Sendable, CaseIterable {
    case syslogTCP = "syslog+tcp"
    case syslogTLS = "syslog+tls"
    case syslogUDP = "syslog+udp"
    /// RFC 5424 messages over RELP: each one answered by the receiver's application.
    case relp
    /// Lines appended to a local file, rotated by size.
    case file
    case https
    /// Plain HTTP, to a loopback receiver only (a local forwarder): nothing leaves the host in clear.
    case http
    /// NATS JetStream: delivered when the stream acknowledged the message (NATSTransport.swift).
    case nats
  }

  /// What an HTTP output speaks.
  public enum HTTPProfile: String, Sendable, CaseIterable {
    /// Splunk HTTP Event Collector: `/services/collector/event`, `Authorization: Splunk TOKEN`.
    case splunkHEC = "splunk-hec"
    /// Elasticsearch `_bulk` with `create` and the alert id as `_id`: a resend is idempotent.
    case elasticsearch
    /// A JSON array (or NDJSON) of documents per request.
    case webhook
  }

  /// Where a secret comes from: a file (its first line) or an environment variable; never the
  /// command line, never a log.
  public enum Secret: Sendable, Equatable {
    case file(String)
    case environment(String)

    public func read() throws(OutputError) -> String {
      switch self {
      case .file(let path):
        guard let data = FileManager.default.contents(atPath: path) else {
          throw .secret("cannot read the secret file \(path)")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
          throw .secret("the secret file \(path) is not UTF-8 text (its value is not shown)")
        }
        let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        guard !line.isEmpty else { throw .secret("the secret file \(path) is empty") }
        guard Self.isPrintable(line) else {
          throw .secret("the secret file \(path) holds a control character (a NUL?) (its value is not shown)")
        }
        return line
      case .environment(let name):
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
          throw .secret("the environment variable \(name) is not set")
        }
        guard Self.isPrintable(value) else {
          throw .secret("the environment variable \(name) holds a control character (its value is not shown)")
        }
        return value
      }
    }

    /// A secret goes into a request header: no control characters (HTTP refuses them, and its
    /// error would quote the value).
    static func isPrintable(_ text: String) -> Bool {
      text.unicodeScalars.allSatisfy { $0.value >= 32 && $0.value != 127 }
    }
  }

  public struct HTTP: Sendable, Equatable {
    public var profile = HTTPProfile.webhook
    /// The URL path (`/services/collector/event` by default for HEC, `/INDEX/_bulk` for Elasticsearch).
    public var path = "/"
    /// Elasticsearch index (or data stream) the documents go to.
    public var index = "flowsentry-alerts"
    /// Webhook: NDJSON instead of a JSON array.
    public var ndjson = false
    /// HEC token, Elasticsearch API key, or `user:password` for basic authentication.
    public var token: Secret?
    public var apiKey: Secret?
    public var basicAuthentication: Secret?
    /// Extra request headers (`header=Name:Value`, repeatable).
    public var headers: [String: String] = [:]
    public var timeoutMilliseconds = 10_000
    /// Request bodies gzip-compressed (`Content-Encoding: gzip`).
    public var gzip = false
    public var batchBytes = 4 << 20
    public init() {}
  }

  public enum Format: String, Sendable, CaseIterable {
    /// The alert and event schema that stdout prints.
    case json
    /// Elastic Common Schema 9.x documents.
    case ecs
    /// ArcSight Common Event Format lines.
    case cef
  }

  public struct TLS: Sendable, Equatable {
    /// PEM bundle of the CAs that may sign the receiver's certificate; the system's when nil.
    public var caFile: String?
    /// PEM client certificate chain and key, for receivers that require mutual TLS.
    public var certificateFile: String?
    public var keyFile: String?
    /// The name the receiver's certificate must carry; without it, the host when given by name, else
    /// the address it was reached at.
    public var serverName: String?
    /// Off only when asked for by name (`tls_verify=false`), with a warning at start.
    public var verify = true
    public init() {}

    /// The name the certificate is verified against: `serverName`, else a host given by name;
    /// nil for a host given as an address (then the certificate must carry that address).
    public func effectiveServerName(host: String) -> String? {
      if let serverName { return serverName }
      var address = in6_addr()
      let isAddress = host.withCString {
        inet_pton(AF_INET, $0, &address) == 1 || inet_pton(AF_INET6, $0, &address) == 1
      }
      return isAddress ? nil : host
    }
  }

  public var name: String
  public var kind: Kind
  public var host: String
  public var port: UInt16
  public var format = Format.json
  /// Events sent besides every alert (flow logs for SIEMs that want them); none by default.
  public var events: Set<EventName> = []
  public var facility: UInt8 = 16
  public var tls = TLS()
  public var http = HTTP()
  public var nats = NATSOutputSettings()
  /// `file://` outputs: the file's size before it rotates, and how many files are kept.
  public var fileMaximumBytes: Int64 = 100 << 20
  public var filesKept = 5
  /// Records per write burst, and the most sent and not yet acknowledged at a time.
  public var batchRecords = 256
  public var maximumInFlight = 4_096
  /// The in-memory queue between the pipeline and the output's thread; full, it drops (counted).
  public var queueCapacity = 16_384
  public var spool = Spool.Configuration()
  public var connectTimeoutMilliseconds: Int32 = 5_000
  /// UDP only: longer messages are cut (and counted); RFC 5426 asks receivers for at least 2048.
  public var maximumDatagramBytes = 8_192
  /// Reconnect delays: doubling from the first to the cap, each with random jitter.
  public var retryInitialMilliseconds = 500
  public var retryMaximumMilliseconds = 30_000
  /// How long a stopping output keeps trying to deliver what it holds before leaving it spooled.
  public var drainTimeoutMilliseconds = 5_000

  public init(name: String, kind: Kind, host: String, port: UInt16) {
    self.name = name
    self.kind = kind
    self.host = host
    self.port = port
  }

  /// `syslog+tcp://host:port`, as `--output` takes it (options and secrets left out).
  public var address: String {
    let bracketed = HostAndPort.bracketed(host)
    if kind == .file { return "file://\(host)" }
    if kind == .nats { return nats.address }
    let path = kind == .http || kind == .https ? http.path : ""
    return "\(kind.rawValue)://\(bracketed):\(port)\(path)"
  }

  /// What each spool rank holds, by rank: events, then the severities from the lowest.
  static let rankNames = ["events"] + Severity.allCases.map(\.rawValue)

  /// The spool's rank of an alert of this rule severity: events 0, info 1 … critical 5.
  static func rank(ofSeverity severity: Severity) -> UInt8 { UInt8(severity.rank + 1) }
}

import FlowsentryCore

/// RFC 5424 syslog messages around a body that another encoder made (native JSON, ECS or CEF).
///
///     <PRI>1 TIMESTAMP HOSTNAME flowsentry PROCID MSGID [flowsentry@32473 …] BODY
///
/// PRI from the configured facility and the alert's severity; MSGID the rule id (an event's name
/// for events); structured data with the alert id, rule id and severity. The body is MSG-ANY
/// (no BOM: receivers that parse the body as JSON want it to start with `{`).
public struct SyslogMessage: Sendable {
  /// RFC 5424 section 6.2.1 facilities by their usual names.
  public static let facilities: [String: UInt8] = [
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7, "uucp": 8,
    "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "console": 14, "solaris-cron": 15,
    "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
  ]

  /// The SD-ID of flowsentry's structured data. 32473 is the private enterprise number RFC 5612
  /// sets aside for documentation and examples; flowsentry has none of its own.
  public static let structuredDataID = "flowsentry@32473"

  public let facility: UInt8
  public let hostName: String
  public let processID: Int32
  /// ` HOSTNAME flowsentry PROCID ` after the timestamp, made once.
  private let headerBytes: [UInt8]

  public init(facility: UInt8 = 16, hostName: String, processID: Int32) {
    self.facility = facility
    self.hostName = Self.header(hostName, limit: 255)
    self.processID = processID
    headerBytes = Array("\(self.hostName) flowsentry \(processID) ".utf8)
  }

  /// RFC 5424 severity (6.2.1) of a rule severity: critical 2, high 3, medium 4, low 5, info 6.
  public static func severity(ofRule severity: Severity) -> UInt8 {
    switch severity {
    case .critical: 2
    case .high: 3
    case .medium: 4
    case .low: 5
    case .info: 6
    }
  }

  public func message(for alert: Alert, body: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(160 + body.count)
    appendHeader(
      severity: Self.severity(ofRule: alert.severity), timestamp: alert.timestamp, messageID: alert.ruleID,
      to: &bytes)
    bytes += Self.structuredDataOpening
    Self.parameter("alert_id", alert.id, to: &bytes)
    Self.parameter("rule_id", alert.ruleID, to: &bytes)
    Self.parameter("severity", alert.severity.rawValue, to: &bytes)
    bytes += Self.structuredDataClosing
    bytes += body
    return bytes
  }

  public func message(for event: SensorEvent, body: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(120 + body.count)
    appendHeader(severity: 6, timestamp: event.timestamp, messageID: event.name.rawValue, to: &bytes)
    bytes += Self.structuredDataOpening
    Self.parameter("event", event.name.rawValue, to: &bytes)
    bytes += Self.structuredDataClosing
    bytes += body
    return bytes
  }

  private static let structuredDataOpening = Array("[\(structuredDataID)".utf8)
  private static let structuredDataClosing = Array("] ".utf8)

  /// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID ` as bytes: it runs for every forwarded record.
  private func appendHeader(
    severity: UInt8, timestamp: WallClockNanoseconds, messageID: String, to bytes: inout [UInt8]
  ) {
    var json = JSONBytes(bytes: consume bytes)
    json.raw("<")
    json.integer(Int(facility) * 8 + Int(severity))
    json.raw(">1 ")
    json.rfc3339(nanoseconds: timestamp)
    // "…:SS.nnnnnnnnnZ" → "…:SS.uuuuuuZ": RFC 5424 allows six fractional digits.
    json.bytes.removeSubrange((json.bytes.count - 4)..<(json.bytes.count - 1))
    json.bytes.append(UInt8(ascii: " "))
    json.bytes += headerBytes
    json.bytes += Array(Self.header(messageID, limit: 32).utf8)
    json.bytes.append(UInt8(ascii: " "))
    bytes = json.bytes
  }

  /// RFC 3339 in UTC with microseconds: RFC 5424 allows at most six fractional digits.
  public static func timestamp(_ nanoseconds: WallClockNanoseconds) -> String {
    var json = JSONBytes(bytes: [])
    json.rfc3339(nanoseconds: nanoseconds)
    var text = String(decoding: json.bytes, as: UTF8.self)
    // "…:SS.nnnnnnnnnZ" → "…:SS.uuuuuuZ"
    if let dot = text.lastIndex(of: "."), text.distance(from: dot, to: text.endIndex) == 11 {
      text.removeSubrange(text.index(dot, offsetBy: 7)..<text.index(before: text.endIndex))
    }
    return text
  }

  /// A header field is PRINTUSASCII (33...126) and bounded; anything else becomes `_`, empty `-`.
  static func header(_ value: String, limit: Int) -> String {
    let printable = String(
      value.unicodeScalars.prefix(limit).map { (33...126).contains($0.value) ? Character($0) : "_" })
    return printable.isEmpty ? "-" : printable
  }

  /// ` NAME="VALUE"` with `"`, `\` and `]` escaped by a backslash (RFC 5424 6.3.3); the value is UTF-8.
  static func parameter(_ name: String, _ value: String, to bytes: inout [UInt8]) {
    bytes.append(UInt8(ascii: " "))
    bytes += Array(name.utf8)
    bytes += Array("=\"".utf8)
    for byte in value.utf8 {
      if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "]") {
        bytes.append(UInt8(ascii: "\\"))
      }
      bytes.append(byte)
    }
    bytes.append(UInt8(ascii: "\""))
  }

  /// RFC 6587 octet-counting framing, for TCP and TLS (RFC 5425): `LENGTH SP MESSAGE`.
  public static func octetCounted(_ message: [UInt8]) -> [UInt8] {
    Array("\(message.count) ".utf8) + message
  }
}

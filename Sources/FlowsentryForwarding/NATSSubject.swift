import FlowsentryCore
import FlowsentryOutput

/// A `nats://` output's subject template: literal tokens and `{host}`, `{rule}`, `{severity}`,
/// `{event}`, `{remote}`, `{name}`. Each value becomes exactly one subject token (see `token(_:)`),
/// so a dot in an address or a name never splits the subject and no value is a wildcard.
public struct NATSSubjectTemplate: Sendable, Equatable {
  public enum Part: Sendable, Equatable {
    case literal(String)
    case host, rule, severity, event, remote, name
  }

  public let parts: [Part]
  public let text: String

  /// Values of one record, already plain text; `token(_:)` encodes them.
  public struct Values {
    public var host: String
    public var rule: String
    public var severity: String
    public var event: String
    public var remote: String
    public var name: String

    public init(host: String, rule: String, severity: String, event: String, remote: String, name: String) {
      (self.host, self.rule, self.severity, self.event, self.remote, self.name) = (
        host, rule, severity, event, remote, name
      )
    }
  }

  public init(_ text: String) throws(OutputSpecificationError) {
    func fail(_ reason: String) -> OutputSpecificationError {
      OutputSpecificationError(specification: "subject=\(text)", reason: reason)
    }
    self.text = text
    var parts: [Part] = []
    var rest = Substring(text)
    while !rest.isEmpty {
      if rest.first == "{" {
        guard let close = rest.firstIndex(of: "}") else { throw fail("a '{' without its '}'") }
        let key = rest[rest.index(after: rest.startIndex)..<close]
        switch key {
        case "host": parts.append(.host)
        case "rule": parts.append(.rule)
        case "severity": parts.append(.severity)
        case "event": parts.append(.event)
        case "remote": parts.append(.remote)
        case "name": parts.append(.name)
        default: throw fail("unknown placeholder {\(key)}; known: {host} {rule} {severity} {event} {remote} {name}")
        }
        rest = rest[rest.index(after: close)...]
      } else {
        let literal = rest.prefix { $0 != "{" }
        parts.append(.literal(String(literal)))
        rest = rest.dropFirst(literal.count)
      }
    }
    self.parts = parts
    // Every literal token must be a plain one: no wildcard, no whitespace, no empty token.
    let skeleton = parts.map { if case .literal(let text) = $0 { text } else { "x" } }.joined()
    for token in skeleton.split(separator: ".", omittingEmptySubsequences: false) {
      guard !token.isEmpty else { throw fail("an empty subject token (two dots, or a dot at an end)") }
      guard token != "*", token != ">", !token.contains(where: { $0 == " " || $0 == "\t" || $0 == "*" || $0 == ">" })
      else { throw fail("subject tokens take no wildcards or spaces: '\(token)'") }
    }
    guard !skeleton.isEmpty else { throw fail("the subject is empty") }
  }

  public func subject(_ values: Values) -> String {
    var subject = ""
    for part in parts {
      switch part {
      case .literal(let text): subject += text
      case .host: subject += Self.token(values.host)
      case .rule: subject += Self.token(values.rule)
      case .severity: subject += Self.token(values.severity)
      case .event: subject += Self.token(values.event)
      case .remote: subject += Self.token(values.remote)
      case .name: subject += Self.token(values.name)
      }
    }
    return subject
  }

  /// One subject token for any value: ASCII letters, digits, `-`, `_` and `:` stay as they are;
  /// every other byte of the UTF-8 text (`.`, `*`, `>`, spaces, `%`, non-ASCII) becomes `%XX`,
  /// upper-case hex, so the encoding is reversible and `10.0.0.5` is `10%2E0%2E0%2E5`. An empty
  /// value is `_`. Values longer than 128 bytes keep their first 128 bytes' encoding.
  public static func token(_ value: String) -> String {
    guard !value.isEmpty else { return "_" }
    let hex = Array("0123456789ABCDEF".utf8)
    var bytes: [UInt8] = []
    for byte in value.utf8.prefix(128) {
      switch byte {
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: ":"):
        bytes.append(byte)
      default:
        bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

/// What a `nats://` output spools per record: the subject and `Nats-Msg-Id` decided when the
/// record was handed over, then the body. `SUBJECT \n ID \n BODY`: neither subject nor id can hold
/// a line break (the subject's values are encoded, the id is hex).
enum NATSEnvelope {
  static func encode(subject: String, messageID: String, body: [UInt8]) -> [UInt8] {
    var bytes = Array(subject.utf8)
    bytes.append(UInt8(ascii: "\n"))
    bytes += Array(messageID.utf8)
    bytes.append(UInt8(ascii: "\n"))
    bytes += body
    return bytes
  }

  static func decode(_ payload: [UInt8]) -> (subject: String, messageID: String, body: [UInt8])? {
    guard let first = payload.firstIndex(of: UInt8(ascii: "\n")),
      let second = payload[(first + 1)...].firstIndex(of: UInt8(ascii: "\n")), first > 0, second > first + 1
    else { return nil }
    return (
      String(decoding: payload[..<first], as: UTF8.self),
      String(decoding: payload[(first + 1)..<second], as: UTF8.self),
      Array(payload[(second + 1)...])
    )
  }

  /// The subject values of an alert: its first flow event gives the remote and its name.
  static func values(_ alert: Alert, host: String) -> NATSSubjectTemplate.Values {
    var values = NATSSubjectTemplate.Values(
      host: host, rule: alert.ruleID, severity: alert.severity.rawValue, event: "alert", remote: "", name: "")
    for event in alert.events {
      let (remote, name) = partitionKeys(event)
      if !remote.isEmpty {
        values.remote = remote
        values.name = name
        break
      }
    }
    return values
  }

  static func values(_ event: SensorEvent, host: String) -> NATSSubjectTemplate.Values {
    let (remote, name) = partitionKeys(event)
    return NATSSubjectTemplate.Values(
      host: host, rule: "", severity: "", event: event.name.rawValue, remote: remote, name: name)
  }

  /// The peer's address and its first DNS name; for DNS, the resolver's side and the first question.
  private static func partitionKeys(_ event: SensorEvent) -> (remote: String, name: String) {
    switch event {
    case .flow(let flow):
      let remoteIsSource = flow.remote == flow.source
      let names = remoteIsSource ? flow.sourceNames : flow.destinationNames
      return (flow.remote.address.description, names.first ?? "")
    case .dns(let dns):
      let resolver = dns.source.port == 53 ? dns.source : dns.destination
      return (resolver.address.description, dns.questions.first ?? "")
    }
  }
}

extension MessageFramer {
  /// The envelope a `nats://` output spools: the subject from the template, the alert's id (or the
  /// event's stable id) as `Nats-Msg-Id`, and the body.
  func nats(_ alert: Alert, body: [UInt8]) -> [UInt8] {
    let subject = configuration.nats.subject?.subject(NATSEnvelope.values(alert, host: hostName)) ?? "flowsentry"
    return NATSEnvelope.encode(subject: subject, messageID: alert.id, body: body)
  }

  func nats(_ event: SensorEvent, body: [UInt8]) -> [UInt8] {
    let subject = configuration.nats.subject?.subject(NATSEnvelope.values(event, host: hostName)) ?? "flowsentry"
    let id = StableIdentifier.event(host: hostName, name: event.name.rawValue, body: body)
    return NATSEnvelope.encode(subject: subject, messageID: id, body: body)
  }
}

import FlowsentryCore
import FlowsentryOutput

/// Turns an encoded body into what one output spools and sends: an RFC 5424 message for syslog,
/// a HEC event envelope, a `_bulk` action and document, or the body itself for a webhook.
struct MessageFramer {
  let configuration: OutputConfiguration
  let syslog: SyslogMessage
  private let hostJSON: [UInt8]
  let hostName: String

  init(configuration: OutputConfiguration, hostName: String, processID: Int32) {
    self.configuration = configuration
    syslog = SyslogMessage(facility: configuration.facility, hostName: hostName, processID: processID)
    hostJSON = Self.jsonString(hostName)
    self.hostName = hostName
  }

  func frame(_ alert: Alert, body: [UInt8]) -> [UInt8] {
    switch configuration.kind {
    case .syslogTCP, .syslogTLS, .syslogUDP, .relp: return syslog.message(for: alert, body: body)
    case .http, .https: return http(body: body, time: alert.timestamp, id: alert.id, type: "alert")
    case .file: return body
    case .nats: return nats(alert, body: body)
    }
  }

  func frame(_ event: SensorEvent, body: [UInt8]) -> [UInt8] {
    switch configuration.kind {
    case .syslogTCP, .syslogTLS, .syslogUDP, .relp: return syslog.message(for: event, body: body)
    case .http, .https: return http(body: body, time: event.timestamp, id: nil, type: event.name.rawValue)
    case .file: return body
    case .nats: return nats(event, body: body)
    }
  }

  private func http(body: [UInt8], time: WallClockNanoseconds, id: String?, type: String) -> [UInt8] {
    // CEF is a line of text; the HTTP profiles carry JSON, so it travels as a JSON string.
    let document = configuration.format == .cef ? Self.jsonString(String(decoding: body, as: UTF8.self)) : body
    switch configuration.http.profile {
    case .webhook:
      return document
    case .splunkHEC:
      let seconds = "\(time / 1_000_000_000).\(String(1_000 + (time % 1_000_000_000) / 1_000_000).dropFirst())"
      var bytes = Array(#"{"time":\#(seconds),"host":"#.utf8) + hostJSON
      bytes += Array(#","source":"flowsentry","sourcetype":"flowsentry:\#(type)","event":"#.utf8)
      bytes += document
      bytes.append(UInt8(ascii: "}"))
      return bytes
    case .elasticsearch:
      // `create` with the alert's id: a record sent twice is stored once (the second answers 409).
      var bytes = Array(#"{"create":{"#.utf8)
      if let id { bytes += Array(#""_id":"#.utf8) + Self.jsonString(id) }
      bytes += Array("}}\n".utf8)
      bytes += document
      bytes.append(UInt8(ascii: "\n"))
      return bytes
    }
  }

  static func jsonString(_ text: String) -> [UInt8] { JSONText.quoted(text) }
}

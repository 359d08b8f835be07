import Crypto
import FlowsentryCore

/// Identifiers that stay the same when the same sensor sees the same thing again (a replay, a
/// resend after a crash) and differ between sensors: SHA-256 over the sensor's identity and what
/// makes the record itself, cut to 128 bits (32 hex digits). A receiver that deduplicates by id
/// (JetStream's `Nats-Msg-Id`, Elasticsearch's `_id`) drops resends and keeps every distinct record;
/// finding two inputs with one id costs about 2^64 work (a birthday bound), past any forger.
public enum StableIdentifier {
  /// Hex digits kept of the digest.
  public static let length = 32

  /// An alert's id: the sensor, the rule, its group's values and the first event's time. Each
  /// field is length-prefixed so that no two different inputs hash the same bytes.
  public static func alert(
    host: String, ruleID: String, group: [(field: String, value: String)], firstEventTime: WallClockNanoseconds,
    distinguishing: [String] = []
  ) -> String {
    var hasher = SHA256()
    field("flowsentry-alert-v1", into: &hasher)
    field(host, into: &hasher)
    field(ruleID, into: &hasher)
    for (name, value) in group {
      field(name, into: &hasher)
      field(value, into: &hasher)
    }
    field(String(firstEventTime), into: &hasher)
    for value in distinguishing { field(value, into: &hasher) }
    return hex(hasher.finalize())
  }

  /// An alert's id as the pipeline and the aggregate name it: `host` is the sensor (or aggregate)
  /// raising it; the time is the earliest event's. What tells apart two alerts of one rule and
  /// group that start at the same time (an ungrouped rule, two sockets, two indicators, two
  /// sensors in the same nanosecond) is the indicator and the earliest event's flow tuple and
  /// socket cookie or DNS questions, with the sensor that saw it: without them the two would share
  /// an id, and a receiver that deduplicates by id (JetStream, Elasticsearch) would drop one. Among
  /// events of equal time the smallest description counts, whatever order they arrived in.
  public static func alert(_ alert: Alert, host: String) -> String {
    let earliest = alert.events.lazy.map(\.timestamp).min() ?? alert.timestamp
    var distinguishing: [String] = []
    if let indicator = alert.indicator { distinguishing.append(indicator.indicator) }
    if let first = alert.events.lazy.filter({ $0.timestamp == earliest }).map(describe).min() {
      distinguishing.append(first)
    }
    return Self.alert(
      host: host, ruleID: alert.ruleID, group: alert.group, firstEventTime: earliest, distinguishing: distinguishing)
  }

  private static func describe(_ event: SensorEvent) -> String {
    switch event {
    case .flow(let event):
      return "\(event.name.rawValue) \(event.source) \(event.destination) \(event.socketCookie) \(event.host)"
    case .dns(let event):
      return "dns \(event.timestamp) \(event.questions.joined(separator: ",")) \(event.host)"
    }
  }

  /// An event's id: the sensor, the event's name and its encoded body (which holds its time,
  /// endpoints and socket cookie, so two events of one sensor differ).
  public static func event(host: String, name: String, body: [UInt8]) -> String {
    var hasher = SHA256()
    field("flowsentry-event-v1", into: &hasher)
    field(host, into: &hasher)
    field(name, into: &hasher)
    var length = UInt64(body.count).bigEndian
    withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
    hasher.update(data: body)
    return hex(hasher.finalize())
  }

  private static func field(_ text: String, into hasher: inout SHA256) {
    let bytes = Array(text.utf8)
    var length = UInt64(bytes.count).bigEndian
    withUnsafeBytes(of: &length) { hasher.update(bufferPointer: $0) }
    hasher.update(data: bytes)
  }

  private static func hex(_ digest: SHA256.Digest) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    text.reserveCapacity(length)
    for byte in digest.prefix(length / 2) {
      text.append(digits[Int(byte >> 4)])
      text.append(digits[Int(byte & 0xF)])
    }
    return String(decoding: text, as: UTF8.self)
  }
}

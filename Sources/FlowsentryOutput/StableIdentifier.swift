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

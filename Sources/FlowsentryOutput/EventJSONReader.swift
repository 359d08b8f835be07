import FlowsentryCore
import Foundation

/// Reads events back from the JSON-lines schema `EventJSON` writes (a `monitor --record` file), for
/// hostile input: a line that is not an event of the schema is an error with its reason and column,
/// never a crash. Alerts and unknown event names are not events to re-run, so they are skipped.
///
/// Numbers are range-checked, never clamped: `timestamp_ns` is an integer in `timestampRange`
/// (1970 to 2116, so that time arithmetic downstream cannot overflow), and every other number must
/// fit its field exactly (a port in 0...65535, a pid, uid or TTL in 32 bits, `duration_ns` in 64);
/// anything else, a fraction or a boolean included, makes the line malformed.
public enum EventJSONReader {
  public enum Outcome {
    case event(SensorEvent)
    /// An alert or a line of another kind: nothing to re-run.
    case skipped
    /// Why the line is not an event, and the 1-based column of the offending key (1 for the line).
    case malformed(String, column: Int)
  }

  /// The times a recording may carry: 0 to 2^62 ns, 1970 to the year 2116.
  public static let timestampRange: ClosedRange<Int64> = 0...(1 << 62)

  public static func read(_ line: some StringProtocol) -> Outcome {
    let text = String(line)
    do {
      return try decode(text)
    } catch {
      return .malformed(error.reason, column: error.key.map { column(of: $0, in: text) } ?? 1)
    }
  }

  private struct Malformed: Error {
    var reason: String
    /// The key whose value is wrong, to point at.
    var key: String?

    init(_ reason: String, at key: String? = nil) {
      self.reason = reason
      self.key = key
    }
  }

  /// The column just after `"key":` (its value), or 1 when the key is absent.
  private static func column(of key: String, in line: String) -> Int {
    let utf8 = Array(line.utf8)
    let quoted = Array("\"\(key)\"".utf8)
    guard quoted.count <= utf8.count else { return 1 }
    for start in 0...(utf8.count - quoted.count) where utf8[start..<start + quoted.count].elementsEqual(quoted) {
      var position = start + quoted.count
      while position < utf8.count, utf8[position] == UInt8(ascii: ":") || utf8[position] == UInt8(ascii: " ") {
        position += 1
      }
      return position + 1
    }
    return 1
  }

  /// `value` as `T` when it is an integer that `T` holds exactly (never a rounded or wrapped one).
  private static func exact<T: FixedWidthInteger>(_ value: Any?, _ key: String, as type: T.Type) throws(Malformed)
    -> T?
  {
    guard let value else { return nil }
    guard let number = value as? NSNumber else { throw Malformed("'\(key)' is not a number", at: key) }
    // JSON's true and false arrive as NSNumbers of C type char; no JSON number does.
    if number.objCType.pointee == CChar(UInt8(ascii: "c")) {
      throw Malformed("'\(key)' is a number, not a boolean", at: key)
    }
    if let integer = value as? Int64, let exact = T(exactly: integer) { return exact }
    if let integer = value as? UInt64, let exact = T(exactly: integer) { return exact }
    throw Malformed("'\(key)' is not an integer in \(T.min)...\(T.max)", at: key)
  }

  private static func decode(_ line: String) throws(Malformed) -> Outcome {
    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
      throw Malformed("not a JSON object")
    }
    if object["type"] as? String == "alert" { return .skipped }
    guard let version = try? exact(object["schema_version"], "schema_version", as: Int.self),
      version == EventJSON.schemaVersion
    else { throw Malformed("no schema_version \(EventJSON.schemaVersion)", at: "schema_version") }
    guard let nameText = object["event"] as? String else { throw Malformed("no 'event'", at: "event") }
    guard let name = EventName(rawValue: nameText) else { return .skipped }
    guard let timestamp = try exact(object["timestamp_ns"], "timestamp_ns", as: Int64.self) else {
      throw Malformed("no 'timestamp_ns'")
    }
    guard timestampRange.contains(timestamp) else {
      throw Malformed("'timestamp_ns' is outside 0...2^62 (1970 to 2116)", at: "timestamp_ns")
    }
    guard let args = object["args"] as? [String: Any] else { throw Malformed("no 'args'", at: "args") }
    guard let source = try endpoint(args, "src", "src_port"), let destination = try endpoint(args, "dst", "dst_port")
    else { throw Malformed("'args' needs src, dst, src_port and dst_port", at: "args") }
    let cgroupID = try exact(object["cgroup_id"], "cgroup_id", as: UInt64.self) ?? 0
    let host = object["host"] as? String ?? ""

    if name == .netPacketDNS {
      var answers: [DNSEvent.Answer] = []
      for answer in args["answers"] as? [[String: Any]] ?? [] {
        guard let owner = answer["name"] as? String, let type = answer["type"] as? String,
          let data = answer["data"] as? String
        else { continue }
        answers.append(
          DNSEvent.Answer(
            name: owner, type: type, timeToLive: try exact(answer["ttl"], "ttl", as: UInt32.self) ?? 0, data: data))
      }
      var event = DNSEvent(
        timestamp: timestamp, source: source, destination: destination,
        transport: args["transport"] as? String == "tcp" ? .tcp : .udp, cgroupID: cgroupID,
        id: try exact(args["id"], "id", as: UInt16.self) ?? 0,
        responseCode: try exact(args["rcode"], "rcode", as: UInt8.self) ?? 0,
        questions: args["questions"] as? [String] ?? [], answers: answers,
        truncated: args["truncated"] as? Bool ?? false)
      event.host = host
      return .event(.dns(event))
    }

    guard let directionText = args["conn_direction"] as? String,
      let direction = ConnectionDirection(rawValue: directionText)
    else { throw Malformed("'conn_direction' is outgoing or incoming", at: "conn_direction") }
    var event = FlowEvent(
      name: name, timestamp: timestamp, direction: direction, source: source, destination: destination,
      sourceNames: args["src_dns"] as? [String] ?? [], destinationNames: args["dst_dns"] as? [String] ?? [],
      cgroupID: cgroupID, socketCookie: try exact(object["socket_cookie"], "socket_cookie", as: UInt64.self) ?? 0)
    event.host = host
    if let process = object["process"] as? [String: Any], let pid = try exact(process["pid"], "pid", as: UInt32.self) {
      event.process = ProcessIdentity(
        pid: pid, uid: try exact(process["uid"], "uid", as: UInt32.self) ?? 0, command: process["comm"] as? String ?? ""
      )
    }
    switch name {
    case .netFlowTCPEnd:
      guard let reason = (args["close_reason"] as? String).flatMap(CloseReason.init(rawValue:)),
        let side = (args["terminated_by"] as? String).flatMap(Side.init(rawValue:))
      else { throw Malformed("an end needs close_reason and terminated_by", at: "close_reason") }
      event.closeReason = reason
      event.terminatedBy = side
      if let duration = args["duration_ns"], !(duration is NSNull) {
        event.durationNanoseconds = try exact(duration, "duration_ns", as: Int64.self)
      }
      event.volume = try volume(args)
      event.volumeDelta = try volumeDelta(args, rtt: event.volume?.rttMicroseconds)
    case .netFlowTCPUpdate:
      if let duration = args["duration_ns"], !(duration is NSNull) {
        event.durationNanoseconds = try exact(duration, "duration_ns", as: Int64.self)
      }
      event.volume = try volume(args)
      event.volumeDelta = try volumeDelta(args, rtt: event.volume?.rttMicroseconds)
    case .netFlowTCPHalfOpen:
      event.attempts = try exact(args["attempts"], "attempts", as: UInt64.self) ?? 0
    default:
      break
    }
    event.preexisting = args["preexisting"] as? Bool ?? false
    return .event(.flow(event))
  }

  /// An update's or end's deltas: all five or none, each a UInt64, exactly.
  private static func volumeDelta(_ args: [String: Any], rtt: UInt64?) throws(Malformed) -> FlowVolume? {
    let keys = [
      "bytes_sent_delta", "bytes_received_delta", "packets_sent_delta", "packets_received_delta",
      "retransmits_delta",
    ]
    guard keys.contains(where: { args[$0] != nil }) else { return nil }
    var values: [UInt64] = []
    for key in keys {
      guard let value = try exact(args[key], key, as: UInt64.self) else {
        throw Malformed("'\(key)' missing: the deltas are all five counters or none", at: key)
      }
      values.append(value)
    }
    return FlowVolume(
      bytesSent: values[0], bytesReceived: values[1], packetsSent: values[2], packetsReceived: values[3],
      retransmits: values[4], rttMicroseconds: rtt ?? 0)
  }

  /// An end's volume: all six counters or none (an end nothing counted); each a UInt64, exactly.
  private static func volume(_ args: [String: Any]) throws(Malformed) -> FlowVolume? {
    guard let bytesSent = try exact(args["bytes_sent"], "bytes_sent", as: UInt64.self) else {
      for key in ["bytes_received", "packets_sent", "packets_received", "retransmits", "rtt_us"] where args[key] != nil
      {
        throw Malformed("'\(key)' without 'bytes_sent': volume is all six counters or none", at: key)
      }
      return nil
    }
    func counter(_ key: String) throws(Malformed) -> UInt64 {
      guard let value = try exact(args[key], key, as: UInt64.self) else {
        throw Malformed("'\(key)' missing: volume is all six counters or none", at: key)
      }
      return value
    }
    return FlowVolume(
      bytesSent: bytesSent, bytesReceived: try counter("bytes_received"), packetsSent: try counter("packets_sent"),
      packetsReceived: try counter("packets_received"), retransmits: try counter("retransmits"),
      rttMicroseconds: try counter("rtt_us"))
  }

  private static func endpoint(_ args: [String: Any], _ addressKey: String, _ portKey: String) throws(Malformed)
    -> Endpoint?
  {
    guard let text = args[addressKey] as? String, let port = try exact(args[portKey], portKey, as: UInt16.self) else {
      return nil
    }
    guard let address = IPAddress(text) else { throw Malformed("'\(addressKey)' is not an IP address", at: addressKey) }
    return Endpoint(address, port)
  }
}

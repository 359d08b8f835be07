import FlowsentryCore
import Foundation

/// Reads events back from the JSON-lines schema `EventJSON` writes (a `monitor --record` file), for
/// hostile input: a line that is not an event of the schema is an error with its reason, never a
/// crash. Alerts and unknown event names are not events to re-run, so they are skipped, not errors.
public enum EventJSONReader {
  public enum Outcome {
    case event(SensorEvent)
    /// An alert or a line of another kind: nothing to re-run.
    case skipped
    case malformed(String)
  }

  public static func read(_ line: some StringProtocol) -> Outcome {
    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
      return .malformed("not a JSON object")
    }
    if object["type"] as? String == "alert" { return .skipped }
    guard let version = object["schema_version"] as? Int, version == EventJSON.schemaVersion else {
      return .malformed("no schema_version \(EventJSON.schemaVersion)")
    }
    guard let nameText = object["event"] as? String else { return .malformed("no 'event'") }
    guard let name = EventName(rawValue: nameText) else { return .skipped }
    guard let timestamp = (object["timestamp_ns"] as? NSNumber)?.int64Value else {
      return .malformed("no 'timestamp_ns'")
    }
    guard let args = object["args"] as? [String: Any] else { return .malformed("no 'args'") }
    guard let source = endpoint(args, "src", "src_port"), let destination = endpoint(args, "dst", "dst_port") else {
      return .malformed("'args' needs src, dst, src_port and dst_port")
    }
    let cgroupID = (object["cgroup_id"] as? NSNumber)?.uint64Value ?? 0

    if name == .netPacketDNS {
      let answers = (args["answers"] as? [[String: Any]] ?? []).compactMap { answer -> DNSEvent.Answer? in
        guard let owner = answer["name"] as? String, let type = answer["type"] as? String,
          let data = answer["data"] as? String
        else { return nil }
        return DNSEvent.Answer(
          name: owner, type: type, timeToLive: (answer["ttl"] as? NSNumber)?.uint32Value ?? 0, data: data)
      }
      return .event(
        .dns(
          DNSEvent(
            timestamp: timestamp, source: source, destination: destination,
            transport: args["transport"] as? String == "tcp" ? .tcp : .udp, cgroupID: cgroupID,
            id: (args["id"] as? NSNumber)?.uint16Value ?? 0,
            responseCode: (args["rcode"] as? NSNumber)?.uint8Value ?? 0,
            questions: args["questions"] as? [String] ?? [], answers: answers,
            truncated: args["truncated"] as? Bool ?? false)))
    }

    guard let directionText = args["conn_direction"] as? String,
      let direction = ConnectionDirection(rawValue: directionText)
    else { return .malformed("'conn_direction' is outgoing or incoming") }
    var event = FlowEvent(
      name: name, timestamp: timestamp, direction: direction, source: source, destination: destination,
      sourceNames: args["src_dns"] as? [String] ?? [], destinationNames: args["dst_dns"] as? [String] ?? [],
      cgroupID: cgroupID, socketCookie: (object["socket_cookie"] as? NSNumber)?.uint64Value ?? 0)
    if let process = object["process"] as? [String: Any], let pid = (process["pid"] as? NSNumber)?.uint32Value {
      event.process = ProcessIdentity(
        pid: pid, uid: (process["uid"] as? NSNumber)?.uint32Value ?? 0, command: process["comm"] as? String ?? "")
    }
    switch name {
    case .netFlowTCPEnd:
      guard let reason = (args["close_reason"] as? String).flatMap(CloseReason.init(rawValue:)),
        let side = (args["terminated_by"] as? String).flatMap(Side.init(rawValue:))
      else { return .malformed("an end needs close_reason and terminated_by") }
      event.closeReason = reason
      event.terminatedBy = side
      event.durationNanoseconds = (args["duration_ns"] as? NSNumber)?.int64Value
    case .netFlowTCPHalfOpen:
      event.attempts = (args["attempts"] as? NSNumber)?.uint64Value ?? 0
    default:
      break
    }
    return .event(.flow(event))
  }

  private static func endpoint(_ args: [String: Any], _ addressKey: String, _ portKey: String) -> Endpoint? {
    guard let text = args[addressKey] as? String, let address = IPAddress(text),
      let port = (args[portKey] as? NSNumber)?.intValue, (0...65_535).contains(port)
    else { return nil }
    return Endpoint(address, UInt16(port))
  }
}

import FlowsentryCore
import Yams

/// Reads one event of a rule test. `repeat: N` with `every: 100ms` makes N events, and
/// `vary: {dst_port: 1, src: 1}` adds i times the step to a port or to an IPv4 address's last bits.
enum TestEventReader {
  static let keys = [
    "at", "event", "conn_direction", "src", "dst", "src_port", "dst_port", "src_dns", "dst_dns", "close_reason",
    "terminated_by", "duration_ns", "attempts", "process", "questions", "answers", "repeat", "every", "vary",
  ]

  static func read(_ node: Node, _ file: String, into builder: inout RuleSetBuilder) -> [TestEvent] {
    guard case .mapping(let mapping) = node else {
      builder.report(.error, builder.location(node, file), "a test event is a mapping of fields")
      return []
    }
    builder.checkKeys(mapping, keys, "a test event", file)
    func text(_ key: String) -> String? { mapping[key]?.string }
    func fail(_ key: String, _ message: String) -> [TestEvent] {
      builder.report(.error, builder.location(mapping[key] ?? node, file), message)
      return []
    }
    guard let name = text("event").flatMap(EventName.init(rawValue:)) else {
      return fail("event", "a test event needs 'event': \(EventName.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    let at = text("at").flatMap(Duration.parse) ?? 0
    let every = text("every").flatMap(Duration.parse) ?? 0
    let count = mapping["repeat"]?.int ?? 1
    guard (1...100_000).contains(count) else { return fail("repeat", "'repeat' must be between 1 and 100000") }
    guard let source = IPAddress(text("src") ?? "198.51.100.10") else { return fail("src", "'src' must be an address") }
    guard let destination = IPAddress(text("dst") ?? "203.0.113.20") else {
      return fail("dst", "'dst' must be an address")
    }
    guard let direction = ConnectionDirection(rawValue: text("conn_direction") ?? "outgoing") else {
      return fail("conn_direction", "'conn_direction' is outgoing or incoming")
    }
    let reason = text("close_reason").map(CloseReason.init(rawValue:)) ?? CloseReason.fin
    guard let reason else { return fail("close_reason", "'close_reason' is fin, rst, refused or timeout") }
    let side = text("terminated_by").map(Side.init(rawValue:)) ?? Side.local
    guard let side else { return fail("terminated_by", "'terminated_by' is local or remote") }
    var vary: [String: Int64] = [:]
    if case .mapping(let steps) = mapping["vary"] ?? .mapping([:]) {
      for (key, value) in steps {
        guard let field = key.string, ["src", "dst", "src_port", "dst_port"].contains(field), let step = value.int
        else {
          builder.report(.error, builder.location(key, file), "'vary' takes src, dst, src_port or dst_port with a step")
          continue
        }
        vary[field] = Int64(step)
      }
    }
    var process: ProcessIdentity?
    if case .mapping(let fields) = mapping["process"] ?? .mapping([:]), !fields.isEmpty {
      process = ProcessIdentity(
        pid: UInt32(fields["pid"]?.int ?? 1), uid: UInt32(fields["uid"]?.int ?? 0),
        command: fields["comm"]?.string ?? "")
    }
    func list(_ key: String) -> [String] { mapping[key]?.sequence?.compactMap(\.string) ?? [] }

    var events: [TestEvent] = []
    for index in 0..<count {
      let i = Int64(index)
      func port(_ key: String, _ fallback: Int) -> UInt16 {
        UInt16(truncatingIfNeeded: Int64(mapping[key]?.int ?? fallback) + i * (vary[key] ?? 0))
      }
      func shifted(_ address: IPAddress, _ key: String) -> IPAddress {
        guard let step = vary[key], case .v4(let value) = address else { return address }
        return .v4(value &+ UInt32(truncatingIfNeeded: i * step))
      }
      let timestamp = at + i * every
      let src = Endpoint(shifted(source, "src"), port("src_port", 40_000))
      let dst = Endpoint(shifted(destination, "dst"), port("dst_port", 443))
      let event: SensorEvent
      switch name {
      case .netPacketDNS:
        event = .dns(
          DNSEvent(
            timestamp: timestamp, source: src, destination: dst, transport: .udp, cgroupID: 0, id: 1, responseCode: 0,
            questions: list("questions"),
            answers: list("answers").map {
              .init(name: list("questions").first ?? "", type: "A", timeToLive: 60, data: $0)
            },
            truncated: false))
      case .netFlowTCPHalfOpen:
        event = .flow(
          FlowEvent(
            name: name, timestamp: timestamp, direction: .incoming, source: src, destination: dst,
            attempts: UInt64(clamping: mapping["attempts"]?.int ?? 1)))
      case .netFlowTCPBegin, .netFlowTCPEnd:
        event = .flow(
          FlowEvent(
            name: name, timestamp: timestamp, direction: direction, source: src, destination: dst,
            sourceNames: list("src_dns"), destinationNames: list("dst_dns"),
            closeReason: name == .netFlowTCPEnd ? reason : nil, terminatedBy: name == .netFlowTCPEnd ? side : nil,
            durationNanoseconds: mapping["duration_ns"]?.int.map(Int64.init), process: process))
      }
      events.append(TestEvent(at: timestamp, event: event))
    }
    return events
  }
}

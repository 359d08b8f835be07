import FlowsentryCore
import FlowsentryOutput

/// Reads events back from the JSON-lines schema `EventJSON` writes (a `monitor --record` file), for
/// hostile input: a line that is not an event of the schema is an error with its reason and column,
/// never a crash. Alerts and unknown event names are not events to re-run, so they are skipped.
///
/// Numbers are range-checked, never clamped: `timestamp_ns` is an integer in `timestampRange`
/// (1970 to 2116, so that time arithmetic downstream cannot overflow), and every other number must
/// fit its field exactly (a port in 0...65535, a pid, uid or TTL in 32 bits, `duration_ns` in 64);
/// anything else, a fraction or a boolean included, makes the line malformed.
/// The recording reader before the single-pass scanner, kept unchanged as the oracle of
/// `RecordingReaderDifferentialTests`.
enum OracleEventJSONReader {
  typealias Outcome = EventJSONReader.Outcome

  /// The times a recording may carry: 0 to 2^62 ns, 1970 to the year 2116.
  static let timestampRange = EventJSONReader.timestampRange

  static func read(_ line: some StringProtocol) -> Outcome {
    var decoder = Decoder()
    var text = String(line)
    return text.withUTF8 { decoder.read(UnsafeRawBufferPointer($0)) }
  }

  /// Reads lines one after another with one parse buffer (a recording's reader keeps one).
  struct Decoder {
    private var document = OracleJSONLineDocument()

    init() {}

    /// As `OracleEventJSONReader.read(_:)`, for a line's bytes (invalid UTF-8 in strings is repaired, as
    /// `String(decoding:as:)` does).
    mutating func read(_ line: UnsafeRawBufferPointer) -> Outcome {
      do throws(Malformed) {
        guard document.parse(line), document.kind(0) == .object else { throw Malformed("not a JSON object") }
        return try OracleEventJSONReader.decode(document)
      } catch {
        return .malformed(error.reason, column: error.key.map { column(of: $0, in: line) } ?? 1)
      }
    }
  }

  fileprivate struct Malformed: Error {
    var reason: String
    /// The key whose value is wrong, to point at.
    var key: String?

    init(_ reason: String, at key: String? = nil) {
      self.reason = reason
      self.key = key
    }
  }

  /// The column just after `"key":` (its value), or 1 when the key is absent.
  fileprivate static func column(of key: String, in line: UnsafeRawBufferPointer) -> Int {
    let quoted = Array("\"\(key)\"".utf8)
    guard quoted.count <= line.count else { return 1 }
    for start in 0...(line.count - quoted.count)
    where UnsafeRawBufferPointer(rebasing: line[start..<start + quoted.count]).elementsEqual(quoted) {
      var position = start + quoted.count
      while position < line.count, line[position] == UInt8(ascii: ":") || line[position] == UInt8(ascii: " ") {
        position += 1
      }
      return position + 1
    }
    return 1
  }

  /// The value at `index` as `T` when it is an integer that `T` holds exactly (never a rounded or
  /// wrapped one); nil when absent.
  private static func exact<T: FixedWidthInteger>(
    _ document: OracleJSONLineDocument, _ index: Int?, _ key: String, as type: T.Type
  ) throws(Malformed) -> T? {
    guard let index else { return nil }
    switch document.kind(index) {
    case .number:
      if let value = document.integer(index, as: T.self) { return value }
      throw Malformed("'\(key)' is not an integer in \(T.min)...\(T.max)", at: key)
    case .boolean: throw Malformed("'\(key)' is a number, not a boolean", at: key)
    default: throw Malformed("'\(key)' is not a number", at: key)
    }
  }

  /// An array of strings, or nil when the value is absent or anything else (one non-string element included).
  private static func strings(_ document: OracleJSONLineDocument, _ index: Int?) -> [String]? {
    guard let index, document.kind(index) == .array else { return nil }
    var result: [String] = []
    for element in document.elements(index) {
      guard let text = document.string(element) else { return nil }
      result.append(text)
    }
    return result
  }

  private static func string(_ document: OracleJSONLineDocument, _ index: Int?) -> String? {
    index.flatMap { document.string($0) }
  }

  fileprivate static func decode(_ document: OracleJSONLineDocument) throws(Malformed) -> Outcome {
    let root = 0
    if let type = document.member(root, "type"), document.stringEquals(type, "alert") { return .skipped }
    guard let version = try? exact(document, document.member(root, "schema_version"), "schema_version", as: Int.self),
      version == EventJSON.schemaVersion
    else { throw Malformed("no schema_version \(EventJSON.schemaVersion)", at: "schema_version") }
    guard let nameText = string(document, document.member(root, "event")) else {
      throw Malformed("no 'event'", at: "event")
    }
    guard let name = EventName(rawValue: nameText) else { return .skipped }
    guard let timestamp = try exact(document, document.member(root, "timestamp_ns"), "timestamp_ns", as: Int64.self)
    else { throw Malformed("no 'timestamp_ns'") }
    guard timestampRange.contains(timestamp) else {
      throw Malformed("'timestamp_ns' is outside 0...2^62 (1970 to 2116)", at: "timestamp_ns")
    }
    guard let args = document.member(root, "args"), document.kind(args) == .object else {
      throw Malformed("no 'args'", at: "args")
    }
    guard let source = try endpoint(document, args, "src", "src_port"),
      let destination = try endpoint(document, args, "dst", "dst_port")
    else { throw Malformed("'args' needs src, dst, src_port and dst_port", at: "args") }
    let cgroupID = try exact(document, document.member(root, "cgroup_id"), "cgroup_id", as: UInt64.self) ?? 0
    let host = string(document, document.member(root, "host")) ?? ""

    if name == .netPacketDNS {
      var answers: [DNSEvent.Answer] = []
      if let list = document.member(args, "answers"), document.kind(list) == .array {
        let elements = document.elements(list)
        // An array holding anything but objects is no answers at all.
        if elements.allSatisfy({ document.kind($0) == .object }) {
          for answer in elements {
            guard let owner = string(document, document.member(answer, "name")),
              let type = string(document, document.member(answer, "type")),
              let data = string(document, document.member(answer, "data"))
            else { continue }
            answers.append(
              DNSEvent.Answer(
                name: owner, type: type,
                timeToLive: try exact(document, document.member(answer, "ttl"), "ttl", as: UInt32.self) ?? 0,
                data: data))
          }
        }
      }
      var event = DNSEvent(
        timestamp: timestamp, source: source, destination: destination,
        transport: document.member(args, "transport").map { document.stringEquals($0, "tcp") } ?? false
          ? .tcp : .udp,
        cgroupID: cgroupID,
        id: try exact(document, document.member(args, "id"), "id", as: UInt16.self) ?? 0,
        responseCode: try exact(document, document.member(args, "rcode"), "rcode", as: UInt8.self) ?? 0,
        questions: strings(document, document.member(args, "questions")) ?? [], answers: answers,
        truncated: document.member(args, "truncated").flatMap { document.boolean($0) } ?? false)
      event.answered = document.member(args, "answered").flatMap { document.boolean($0) } ?? true
      event.host = host
      return .event(.dns(event))
    }

    guard let directionText = string(document, document.member(args, "conn_direction")),
      let direction = ConnectionDirection(rawValue: directionText)
    else { throw Malformed("'conn_direction' is outgoing or incoming", at: "conn_direction") }
    var event = FlowEvent(
      name: name, timestamp: timestamp, direction: direction, source: source, destination: destination,
      sourceNames: strings(document, document.member(args, "src_dns")) ?? [],
      destinationNames: strings(document, document.member(args, "dst_dns")) ?? [],
      cgroupID: cgroupID,
      socketCookie: try exact(document, document.member(root, "socket_cookie"), "socket_cookie", as: UInt64.self) ?? 0)
    event.host = host
    if let process = document.member(root, "process"), document.kind(process) == .object,
      let pid = try exact(document, document.member(process, "pid"), "pid", as: UInt32.self)
    {
      event.process = ProcessIdentity(
        pid: pid, uid: try exact(document, document.member(process, "uid"), "uid", as: UInt32.self) ?? 0,
        command: string(document, document.member(process, "comm")) ?? "")
    }
    switch name {
    case .netFlowTCPEnd:
      guard let reason = string(document, document.member(args, "close_reason")).flatMap(CloseReason.init(rawValue:)),
        let side = string(document, document.member(args, "terminated_by")).flatMap(Side.init(rawValue:))
      else { throw Malformed("an end needs close_reason and terminated_by", at: "close_reason") }
      event.closeReason = reason
      event.terminatedBy = side
      if let duration = document.member(args, "duration_ns"), document.kind(duration) != .null {
        event.durationNanoseconds = try exact(document, duration, "duration_ns", as: Int64.self)
      }
      event.volume = try volume(document, args)
      event.volumeDelta = try volumeDelta(document, args, rtt: event.volume?.rttMicroseconds)
    case .netFlowTCPUpdate:
      if let duration = document.member(args, "duration_ns"), document.kind(duration) != .null {
        event.durationNanoseconds = try exact(document, duration, "duration_ns", as: Int64.self)
      }
      event.volume = try volume(document, args)
      event.volumeDelta = try volumeDelta(document, args, rtt: event.volume?.rttMicroseconds)
    case .netFlowTCPHalfOpen:
      event.attempts = try exact(document, document.member(args, "attempts"), "attempts", as: UInt64.self) ?? 0
    default:
      break
    }
    event.preexisting = document.member(args, "preexisting").flatMap { document.boolean($0) } ?? false
    return .event(.flow(event))
  }

  /// An end's volume: all six counters or none (an end nothing counted); each a UInt64, exactly.
  /// An update's or end's deltas: all five or none, each a UInt64, exactly.
  private static func volumeDelta(_ document: OracleJSONLineDocument, _ args: Int, rtt: UInt64?) throws(Malformed)
    -> FlowVolume?
  {
    let keys: [StaticString] = [
      "bytes_sent_delta", "bytes_received_delta", "packets_sent_delta", "packets_received_delta",
      "retransmits_delta",
    ]
    guard keys.contains(where: { document.member(args, $0) != nil }) else { return nil }
    var values: [UInt64] = []
    for key in keys {
      let name = "\(key)"
      guard let value = try exact(document, document.member(args, key), name, as: UInt64.self) else {
        throw Malformed("'\(name)' missing: the deltas are all five counters or none", at: name)
      }
      values.append(value)
    }
    return FlowVolume(
      bytesSent: values[0], bytesReceived: values[1], packetsSent: values[2], packetsReceived: values[3],
      retransmits: values[4], rttMicroseconds: rtt ?? 0)
  }

  private static func volume(_ document: OracleJSONLineDocument, _ args: Int) throws(Malformed) -> FlowVolume? {
    guard let bytesSent = try exact(document, document.member(args, "bytes_sent"), "bytes_sent", as: UInt64.self)
    else {
      let others: [(StaticString, String)] = [
        ("bytes_received", "bytes_received"), ("packets_sent", "packets_sent"),
        ("packets_received", "packets_received"), ("retransmits", "retransmits"), ("rtt_us", "rtt_us"),
      ]
      for (key, name) in others where document.member(args, key) != nil {
        throw Malformed("'\(name)' without 'bytes_sent': volume is all six counters or none", at: name)
      }
      return nil
    }
    func counter(_ key: StaticString) throws(Malformed) -> UInt64 {
      let name = "\(key)"
      guard let value = try exact(document, document.member(args, key), name, as: UInt64.self) else {
        throw Malformed("'\(name)' missing: volume is all six counters or none", at: name)
      }
      return value
    }
    return FlowVolume(
      bytesSent: bytesSent, bytesReceived: try counter("bytes_received"), packetsSent: try counter("packets_sent"),
      packetsReceived: try counter("packets_received"), retransmits: try counter("retransmits"),
      rttMicroseconds: try counter("rtt_us"))
  }

  private static func endpoint(
    _ document: OracleJSONLineDocument, _ args: Int, _ addressKey: StaticString, _ portKey: StaticString
  ) throws(Malformed) -> Endpoint? {
    guard let addressIndex = document.member(args, addressKey), document.kind(addressIndex) == .string,
      let port = try exact(document, document.member(args, portKey), "\(portKey)", as: UInt16.self)
    else { return nil }
    // A dotted quad, most addresses, without the general parser's string work.
    if let quad = document.dottedQuad(addressIndex) { return Endpoint(.v4(quad), port) }
    guard let text = document.string(addressIndex), let address = IPAddress(text) else {
      throw Malformed("'\(addressKey)' is not an IP address", at: "\(addressKey)")
    }
    return Endpoint(address, port)
  }
}

import FlowsentryCore

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
    /// Why the line is not an event, and the 1-based column of the offending key's value, or for a
    /// line that is not JSON, of the byte where its syntax goes wrong.
    case malformed(String, column: Int)
  }

  /// Why a line that is JSON of the schema is no event to re-run.
  public enum Skip: Sendable {
    /// An alert (the monitor records none; a file of its stdout holds them).
    case alert
    /// An event this version does not know (a newer recorder's); `Decoder.eventName` names it.
    case unknownEvent
  }

  /// What `Decoder.read(_:delivering:)` did with a line.
  public enum Delivery {
    case delivered
    case skipped(Skip)
    /// As `Outcome.malformed`.
    case malformed(String, column: Int)
  }

  /// The times a recording may carry: 0 to 2^62 ns, 1970 to the year 2116.
  public static let timestampRange: ClosedRange<Int64> = 0...(1 << 62)

  public static func read(_ line: some StringProtocol) -> Outcome {
    var decoder = Decoder()
    var text = String(line)
    return text.withUTF8 { decoder.read(UnsafeRawBufferPointer($0)) }
  }

  /// Reads lines one after another with one scanner (a recording's reader keeps one).
  public struct Decoder {
    private var scanner = EventLineScanner()

    public init() {}

    /// As `EventJSONReader.read(_:)`, for a line's bytes (invalid UTF-8 in strings is repaired, as
    /// `String(decoding:as:)` does).
    public mutating func read(_ line: UnsafeRawBufferPointer) -> Outcome {
      var event: SensorEvent?
      switch read(line, delivering: { event = $0 }) {
      case .delivered: return .event(event!)
      case .skipped: return .skipped
      case .malformed(let reason, let column): return .malformed(reason, column: column)
      }
    }

    /// As `read(_:)`, but the event goes to `deliver` as it is made: moved on, never copied or moved
    /// through a returned outcome (an event is hundreds of bytes).
    public mutating func read(_ line: UnsafeRawBufferPointer, delivering deliver: (consuming SensorEvent) -> Void)
      -> Delivery
    {
      guard scanner.scan(line) else {
        return .malformed("not a JSON object", column: scanner.syntaxErrorOffset + 1)
      }
      do throws(Malformed) {
        guard let skip = try EventJSONReader.decode(scanner, deliver) else { return .delivered }
        return .skipped(skip)
      } catch {
        return .malformed(error.reason, column: error.key.map { column(of: $0, in: line) } ?? 1)
      }
    }

    /// The `event` of the line read last, as written: what a skip of an unknown event names, read
    /// before the next line, and only then (it allocates).
    public var eventName: String? { scanner.string(scanner.root(.event)) }
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

  /// `value` as `T` when it is an integer that `T` holds exactly (never a rounded or wrapped one);
  /// nil when absent.
  @inline(__always)
  private static func exact<T: FixedWidthInteger>(
    _ line: EventLineScanner, _ value: LineValue, _ key: String, as type: T.Type
  ) throws(Malformed) -> T? {
    // Almost every number of a recording: read here, in line; anything else as below.
    if let magnitude = line.shortUnsigned(value), let number = T(exactly: magnitude) { return number }
    return try checkedExact(line, value, key, as: T.self)
  }

  private static func checkedExact<T: FixedWidthInteger>(
    _ line: EventLineScanner, _ value: LineValue, _ key: String, as type: T.Type
  ) throws(Malformed) -> T? {
    switch value.kind {
    case .absent: return nil
    case .number:
      if let number = line.integer(value, as: T.self) { return number }
      throw Malformed("'\(key)' is not an integer in \(T.min)...\(T.max)", at: key)
    case .boolean: throw Malformed("'\(key)' is a number, not a boolean", at: key)
    default: throw Malformed("'\(key)' is not a number", at: key)
    }
  }

  /// A list's strings, or nil when the value is absent or not an array of strings only.
  private static func strings(_ line: EventLineScanner, _ value: LineValue, _ list: EventLineScanner.List)
    -> [String]?
  {
    guard value.kind == .array, line.listIsRegular(list) else { return nil }
    let elements = line.list(list)
    if elements.isEmpty { return [] }
    var result: [String] = []
    result.reserveCapacity(elements.count)
    for element in elements { result.append(line.string(element)!) }
    return result
  }

  private static let eventNames = RawValues<EventName>(EventName.allCases)
  private static let directions = RawValues<ConnectionDirection>([.outgoing, .incoming])
  private static let closeReasons = RawValues<CloseReason>([.fin, .rst, .refused, .timeout])
  private static let sides = RawValues<Side>([.local, .remote])

  /// Hands the line's event to `deliver` and returns nil; why not, for a line that is no event to re-run.
  fileprivate static func decode(_ line: EventLineScanner, _ deliver: (consuming SensorEvent) -> Void)
    throws(Malformed) -> Skip?
  {
    if line.stringEquals(line.root(.type), "alert") { return .alert }
    guard
      let version = try? exact(line, line.root(.schemaVersion), "schema_version", as: Int.self),
      version == EventJSON.schemaVersion
    else { throw Malformed("no schema_version \(EventJSON.schemaVersion)", at: "schema_version") }
    guard line.root(.event).kind == .string else { throw Malformed("no 'event'", at: "event") }
    guard let name = line.rawValued(line.root(.event), Self.eventNames) else { return .unknownEvent }
    guard let timestamp = try exact(line, line.root(.timestampNanoseconds), "timestamp_ns", as: Int64.self)
    else { throw Malformed("no 'timestamp_ns'") }
    guard timestampRange.contains(timestamp) else {
      throw Malformed("'timestamp_ns' is outside 0...2^62 (1970 to 2116)", at: "timestamp_ns")
    }
    guard line.root(.args).kind == .object else { throw Malformed("no 'args'", at: "args") }
    guard let source = try endpoint(line, line.args(.src), line.args(.srcPort), "src", "src_port"),
      let destination = try endpoint(line, line.args(.dst), line.args(.dstPort), "dst", "dst_port")
    else { throw Malformed("'args' needs src, dst, src_port and dst_port", at: "args") }
    let cgroupID = try exact(line, line.root(.cgroupID), "cgroup_id", as: UInt64.self) ?? 0
    let host = line.repeatedString(line.root(.host), slot: 0) ?? ""

    // Each kind of event is made by a function of its own. The compiler still copies a flow event
    // once on its way out (`flowEvent` returning its local), and refuses `consume` of one here.
    if name == .netPacketDNS {
      deliver(.dns(try dnsEvent(line, timestamp, source, destination, cgroupID, host)))
    } else {
      deliver(.flow(try flowEvent(line, name, timestamp, source, destination, cgroupID, host)))
    }
    return nil
  }

  private static func dnsEvent(
    _ line: EventLineScanner, _ timestamp: Int64, _ source: Endpoint, _ destination: Endpoint, _ cgroupID: UInt64,
    _ host: String
  ) throws(Malformed) -> DNSEvent {
    var answers: [DNSEvent.Answer] = []
    // An array holding anything but objects is no answers at all.
    if line.args(.answers).kind == .array, line.listIsRegular(.answers) {
      let answer = line.list(.answers)
      let stride = AnswerKey.allCases.count
      answers.reserveCapacity(answer.count / stride)
      for first in Swift.stride(from: 0, to: answer.count, by: stride) {
        guard let owner = line.string(answer[first + AnswerKey.name.rawValue]),
          let type = line.string(answer[first + AnswerKey.type.rawValue]),
          let data = line.string(answer[first + AnswerKey.data.rawValue])
        else { continue }
        answers.append(
          DNSEvent.Answer(
            name: owner, type: type,
            timeToLive: try exact(line, answer[first + AnswerKey.ttl.rawValue], "ttl", as: UInt32.self) ?? 0,
            data: data))
      }
    }
    let transport = line.args(.transport)
    var event = DNSEvent(
      timestamp: timestamp, source: source, destination: destination,
      transport: transport.kind != .absent && line.stringEquals(transport, "tcp") ? .tcp : .udp,
      cgroupID: cgroupID,
      id: try exact(line, line.args(.id), "id", as: UInt16.self) ?? 0,
      responseCode: try exact(line, line.args(.rcode), "rcode", as: UInt8.self) ?? 0,
      questions: strings(line, line.args(.questions), .questions) ?? [],
      answers: answers,
      truncated: line.boolean(line.args(.truncated)) ?? false)
    // Recordings older than the key hold answers only.
    event.answered = line.boolean(line.args(.answered)) ?? true
    event.host = host
    return event
  }

  private static func flowEvent(
    _ line: EventLineScanner, _ name: EventName, _ timestamp: Int64, _ source: Endpoint, _ destination: Endpoint,
    _ cgroupID: UInt64, _ host: String
  ) throws(Malformed) -> FlowEvent {
    guard let direction = line.rawValued(line.args(.connDirection), Self.directions)
    else { throw Malformed("'conn_direction' is outgoing or incoming", at: "conn_direction") }
    // Made without its arrays, then given them: FlowEvent's initializer copies the event it builds
    // (every array it holds retained, then released).
    var event = FlowEvent(
      name: name, timestamp: timestamp, direction: direction, source: source, destination: destination,
      cgroupID: cgroupID,
      socketCookie: try exact(line, line.root(.socketCookie), "socket_cookie", as: UInt64.self) ?? 0)
    event.sourceNames = strings(line, line.args(.srcDNS), .sourceNames) ?? []
    event.destinationNames = strings(line, line.args(.dstDNS), .destinationNames) ?? []
    event.host = host
    if line.root(.process).kind == .object,
      let pid = try exact(line, line.process(.pid), "pid", as: UInt32.self)
    {
      event.process = ProcessIdentity(
        pid: pid, uid: try exact(line, line.process(.uid), "uid", as: UInt32.self) ?? 0,
        command: line.repeatedString(line.process(.comm), slot: 1) ?? "")
    }
    switch name {
    case .netFlowTCPEnd:
      guard let reason = line.rawValued(line.args(.closeReason), Self.closeReasons),
        let side = line.rawValued(line.args(.terminatedBy), Self.sides)
      else { throw Malformed("an end needs close_reason and terminated_by", at: "close_reason") }
      event.closeReason = reason
      event.terminatedBy = side
      try readVolumes(line, into: &event)
    case .netFlowTCPUpdate:
      try readVolumes(line, into: &event)
    case .netFlowTCPHalfOpen:
      event.attempts = try exact(line, line.args(.attempts), "attempts", as: UInt64.self) ?? 0
    default:
      break
    }
    event.preexisting = line.boolean(line.args(.preexisting)) ?? false
    return event
  }

  /// An update's or end's duration (null: none), volume and deltas.
  private static func readVolumes(_ line: EventLineScanner, into event: inout FlowEvent)
    throws(Malformed)
  {
    let duration = line.args(.duration)
    if duration.kind != .absent, duration.kind != .null {
      event.durationNanoseconds = try exact(line, duration, "duration_ns", as: Int64.self)
    }
    // Most ends and updates carry no counters at all: then neither reading below finds anything to
    // check, and this answers for both without walking their keys.
    guard
      volumeKeys.contains(where: { line.args($0.key).kind != .absent })
        || deltaKeys.contains(where: { line.args($0.key).kind != .absent })
    else { return }
    event.volume = try volume(line)
    event.volumeDelta = try volumeDelta(line, rtt: event.volume?.rttMicroseconds)
  }

  /// The six counters of a volume, in the order they are checked (and their errors reported), with
  /// where each goes; kept once, not built per line.
  private static let volumeKeys: [(key: ArgsKey, name: String)] = [
    (.bytesSent, "bytes_sent"), (.bytesReceived, "bytes_received"), (.packetsSent, "packets_sent"),
    (.packetsReceived, "packets_received"), (.retransmits, "retransmits"), (.rtt, "rtt_us"),
  ]

  /// The five deltas, as `volumeKeys`.
  private static let deltaKeys: [(key: ArgsKey, name: String)] = [
    (.bytesSentDelta, "bytes_sent_delta"), (.bytesReceivedDelta, "bytes_received_delta"),
    (.packetsSentDelta, "packets_sent_delta"), (.packetsReceivedDelta, "packets_received_delta"),
    (.retransmitsDelta, "retransmits_delta"),
  ]

  /// An end's volume: all six counters or none (an end nothing counted); each a UInt64, exactly.
  private static func volume(_ line: EventLineScanner) throws(Malformed) -> FlowVolume? {
    guard let bytesSent = try exact(line, line.args(.bytesSent), "bytes_sent", as: UInt64.self) else {
      for (key, name) in volumeKeys.dropFirst() where line.args(key).kind != .absent {
        throw Malformed("'\(name)' without 'bytes_sent': volume is all six counters or none", at: name)
      }
      return nil
    }
    var values: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (bytesSent, 0, 0, 0, 0, 0)
    for (index, (key, name)) in volumeKeys.enumerated().dropFirst() {
      guard let value = try exact(line, line.args(key), name, as: UInt64.self) else {
        throw Malformed("'\(name)' missing: volume is all six counters or none", at: name)
      }
      switch index {
      case 1: values.1 = value
      case 2: values.2 = value
      case 3: values.3 = value
      case 4: values.4 = value
      default: values.5 = value
      }
    }
    return FlowVolume(
      bytesSent: values.0, bytesReceived: values.1, packetsSent: values.2, packetsReceived: values.3,
      retransmits: values.4, rttMicroseconds: values.5)
  }

  /// An update's or end's deltas: all five or none, each a UInt64, exactly.
  private static func volumeDelta(_ line: EventLineScanner, rtt: UInt64?) throws(Malformed)
    -> FlowVolume?
  {
    guard deltaKeys.contains(where: { line.args($0.key).kind != .absent }) else { return nil }
    var values: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
    for (index, (key, name)) in deltaKeys.enumerated() {
      guard let value = try exact(line, line.args(key), name, as: UInt64.self) else {
        throw Malformed("'\(name)' missing: the deltas are all five counters or none", at: name)
      }
      switch index {
      case 0: values.0 = value
      case 1: values.1 = value
      case 2: values.2 = value
      case 3: values.3 = value
      default: values.4 = value
      }
    }
    return FlowVolume(
      bytesSent: values.0, bytesReceived: values.1, packetsSent: values.2, packetsReceived: values.3,
      retransmits: values.4, rttMicroseconds: rtt ?? 0)
  }

  private static func endpoint(
    _ line: EventLineScanner, _ address: LineValue, _ port: LineValue, _ addressKey: String, _ portKey: String
  ) throws(Malformed) -> Endpoint? {
    guard address.kind == .string, let port = try exact(line, port, portKey, as: UInt16.self) else { return nil }
    // A dotted quad, most addresses, without the general parser's string work.
    if let quad = line.dottedQuad(address) { return Endpoint(.v4(quad), port) }
    guard let text = line.string(address), let parsed = IPAddress(text) else {
      throw Malformed("'\(addressKey)' is not an IP address", at: addressKey)
    }
    return Endpoint(parsed, port)
  }
}

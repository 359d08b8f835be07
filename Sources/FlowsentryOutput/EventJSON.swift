import FlowsentryCore

/// The JSON-lines event schema (documented in docs/EVENTS.md, "Event schema"). Keys are written in a
/// fixed order so that lines are stable and diffable; bump `schemaVersion` on any incompatible change.
///
/// Encoding appends bytes to a reusable buffer: it runs once per event on the monitor's hot path.
public enum EventJSON {
  public static let schemaVersion = 1

  public struct Context: Sendable {
    public var hostName: String
    /// The host name as a JSON string literal, escaped once rather than per event.
    let hostNameJSON: [UInt8]
    /// Names every flow and DNS event (`community_id`), seed 0 unless the SIEM side uses another.
    public var communityID: CommunityID

    public init(hostName: String, communityID: CommunityID = CommunityID()) {
      self.hostName = hostName
      self.communityID = communityID
      var json = JSONBytes(bytes: [])
      json.string(hostName)
      hostNameJSON = json.bytes
    }
  }

  /// One event as one line of JSON, without the trailing newline.
  public static func line(for event: SensorEvent, context: Context) -> String {
    var bytes: [UInt8] = []
    append(event, context: context, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
  }

  public static func line(for event: FlowEvent, context: Context) -> String {
    line(for: .flow(event), context: context)
  }

  /// Appends one event as JSON (no newline) to `bytes`.
  public static func append(
    _ event: SensorEvent, context: Context, to bytes: inout [UInt8], cache: EncodingCache? = nil
  ) {
    switch event {
    case .flow(let flow): append(flow, context: context, to: &bytes, cache: cache)
    case .dns(let dns): append(dns, context: context, to: &bytes, cache: cache)
    }
  }

  static func append(_ event: DNSEvent, context: Context, to bytes: inout [UInt8], cache: EncodingCache?) {
    var bound =
      512 + context.hostNameJSON.count + JSONWriter.stringBound(event.host) + JSONWriter.stringsBound(event.questions)
    for answer in event.answers {
      bound += 64 + JSONWriter.stringBound(answer.name) + JSONWriter.stringBound(answer.type)
      bound += JSONWriter.stringBound(answer.data)
    }
    bytes.appendWriting(atMost: bound, scratch: cache) { json in
      json.envelope(
        .netPacketDNS, timestamp: event.timestamp, context: context, cgroupID: event.cgroupID, cache: cache,
        host: event.host)
      json.raw(#","process":null,"args":{"#)
      json.endpoints(event.source, event.destination)
      json.communityID(
        context.communityID, event.source, event.destination,
        transport: event.transport == .udp ? CommunityID.udp : CommunityID.tcp, cache: cache)
      json.raw(#","transport":""#)
      json.raw(event.transport == .udp ? "udp" : "tcp")
      json.raw(#"","id":"#)
      json.integer(event.id)
      json.raw(#","rcode":"#)
      json.integer(event.responseCode)
      json.raw(#","questions":"#)
      json.strings(event.questions)
      json.raw(#","answers":["#)
      for (index, answer) in event.answers.enumerated() {
        if index > 0 { json.byte(UInt8(ascii: ",")) }
        json.raw(#"{"name":"#)
        json.string(answer.name)
        json.raw(#","type":"#)
        json.string(answer.type)
        json.raw(#","ttl":"#)
        json.integer(answer.timeToLive)
        json.raw(#","data":"#)
        json.string(answer.data)
        json.byte(UInt8(ascii: "}"))
      }
      json.raw(#"],"truncated":"#)
      json.raw(event.truncated ? "true" : "false")
      json.raw(#","answered":"#)
      json.raw(event.answered ? "true" : "false")
      json.raw("}}")
    }
  }

  static func append(_ event: FlowEvent, context: Context, to bytes: inout [UInt8], cache: EncodingCache?) {
    // Keys, numbers and addresses fit in 1 KiB; the strings are bounded by their lengths.
    let bound =
      1024 + context.hostNameJSON.count + JSONWriter.stringBound(event.host)
      + (event.process.map { JSONWriter.stringBound($0.command) } ?? 0)
      + JSONWriter.stringsBound(event.sourceNames) + JSONWriter.stringsBound(event.destinationNames)
    bytes.appendWriting(atMost: bound, scratch: cache) { json in
      json.envelope(
        event.name, timestamp: event.timestamp, context: context, cgroupID: event.cgroupID, cache: cache,
        host: event.host)
      json.raw(#","socket_cookie":"#)
      json.integer(event.socketCookie)
      if let process = event.process {
        json.raw(#","process":{"pid":"#)
        json.integer(process.pid)
        json.raw(#","comm":"#)
        json.string(process.command)
        json.raw(#","uid":"#)
        json.integer(process.uid)
        json.byte(UInt8(ascii: "}"))
      } else {
        json.raw(#","process":null"#)
      }
      json.raw(#","args":{"conn_direction":""#)
      json.raw(event.direction == .outgoing ? "outgoing" : "incoming")
      json.raw(#"","#)
      json.endpoints(event.source, event.destination)
      json.communityID(context.communityID, event.source, event.destination, transport: CommunityID.tcp, cache: cache)
      json.raw(#","src_dns":"#)
      json.strings(event.sourceNames)
      json.raw(#","dst_dns":"#)
      json.strings(event.destinationNames)
      if event.name == .netFlowTCPEnd {
        json.raw(#","close_reason":""#)
        json.raw(event.closeReason?.jsonValue ?? "fin")
        json.raw(#"","terminated_by":""#)
        json.raw(event.terminatedBy == .remote ? "remote" : "local")
        json.raw(#"","duration_ns":"#)
        if let duration = event.durationNanoseconds { json.integer(duration) } else { json.raw("null") }
        json.volume(event)
      } else if event.name == .netFlowTCPUpdate {
        json.raw(#","duration_ns":"#)
        if let duration = event.durationNanoseconds { json.integer(duration) } else { json.raw("null") }
        json.volume(event)
      } else if event.name == .netFlowTCPHalfOpen {
        json.raw(#","attempts":"#)
        json.integer(event.attempts ?? 0)
      }
      if event.preexisting { json.raw(#","preexisting":true"#) }
      json.raw("}}")
    }
  }
}

extension EventName {
  fileprivate var jsonValue: StaticString {
    switch self {
    case .netFlowTCPBegin: return "net_flow_tcp_begin"
    case .netFlowTCPEnd: return "net_flow_tcp_end"
    case .netPacketDNS: return "net_packet_dns"
    case .netFlowTCPHalfOpen: return "net_flow_tcp_half_open"
    case .netFlowTCPUpdate: return "net_flow_tcp_update"
    }
  }
}

extension CloseReason {
  fileprivate var jsonValue: StaticString {
    switch self {
    case .fin: return "fin"
    case .rst: return "rst"
    case .refused: return "refused"
    case .timeout: return "timeout"
    }
  }
}

extension JSONWriter {
  /// An end's or update's counters: the totals, then what changed since the flow's last report.
  fileprivate mutating func volume(_ event: FlowEvent) {
    if let volume = event.volume {
      raw(#","bytes_sent":"#)
      integer(volume.bytesSent)
      raw(#","bytes_received":"#)
      integer(volume.bytesReceived)
      raw(#","packets_sent":"#)
      integer(volume.packetsSent)
      raw(#","packets_received":"#)
      integer(volume.packetsReceived)
      raw(#","retransmits":"#)
      integer(volume.retransmits)
      raw(#","rtt_us":"#)
      integer(volume.rttMicroseconds)
    }
    if let delta = event.volumeDelta {
      raw(#","bytes_sent_delta":"#)
      integer(delta.bytesSent)
      raw(#","bytes_received_delta":"#)
      integer(delta.bytesReceived)
      raw(#","packets_sent_delta":"#)
      integer(delta.packetsSent)
      raw(#","packets_received_delta":"#)
      integer(delta.packetsReceived)
      raw(#","retransmits_delta":"#)
      integer(delta.retransmits)
    }
  }

  /// `"src":…,"dst":…,"src_port":…,"dst_port":…`, the four keys both event kinds' args start with.
  mutating func endpoints(_ source: Endpoint, _ destination: Endpoint) {
    raw(#""src":""#)
    address(source.address)
    raw(#"","dst":""#)
    address(destination.address)
    raw(#"","src_port":"#)
    integer(source.port)
    raw(#","dst_port":"#)
    integer(destination.port)
  }

  mutating func communityID(
    _ id: CommunityID, _ source: Endpoint, _ destination: Endpoint, transport: UInt8, cache: EncodingCache?
  ) {
    raw(#","community_id":""#)
    if let cache {
      cache.communityIDs.write(id, source, destination, transport: transport, to: &self)
    } else {
      id.write(source, destination, transport: transport, to: &self)
    }
    byte(UInt8(ascii: "\""))
  }

  /// The keys every event starts with, up to and including `cgroup_id`. `host`: the event's own
  /// sensor when it names one (an aggregate's alert lists events of many), else the context's.
  mutating func envelope(
    _ name: EventName, timestamp: WallClockNanoseconds, context: EventJSON.Context, cgroupID: UInt64,
    cache: EncodingCache?, host: String = ""
  ) {
    raw(#"{"schema_version":1,"event":""#)
    raw(name.jsonValue)
    raw(#"","time":""#)
    rfc3339(nanoseconds: timestamp, cache: cache)
    raw(#"","timestamp_ns":"#)
    integer(timestamp)
    raw(#","host":"#)
    if host.isEmpty { bytes(context.hostNameJSON) } else { string(host) }
    raw(#","cgroup_id":"#)
    integer(cgroupID)
  }
}

/// Appends JSON fragments as UTF-8 bytes to an array, each reserving its own bound: for the
/// documents that are not on the per-event path (alerts, ECS, syslog headers).
struct JSONBytes {
  var bytes: [UInt8]

  mutating func raw(_ text: StaticString) {
    text.withUTF8Buffer { bytes.append(contentsOf: $0) }
  }

  mutating func string(_ value: String) {
    bytes.appendWriting(atMost: JSONWriter.stringBound(value)) { $0.string(value) }
  }

  mutating func strings(_ values: [String]) {
    bytes.appendWriting(atMost: JSONWriter.stringsBound(values)) { $0.strings(values) }
  }

  mutating func integer<Number: BinaryInteger>(_ value: Number) {
    bytes.appendWriting(atMost: JSONWriter.integerBound) { $0.integer(value) }
  }

  mutating func address(_ address: IPAddress) {
    bytes.appendWriting(atMost: JSONWriter.addressBound) { $0.address(address) }
  }

  mutating func rfc3339(nanoseconds: Int64, cache: EncodingCache? = nil) {
    bytes.appendWriting(atMost: JSONWriter.timeBound) { $0.rfc3339(nanoseconds: nanoseconds, cache: cache) }
  }
}

/// What consecutive events repeat, kept by one sink for the next: the last second's date-time
/// prefix, and the Community IDs of recent flows (a flow's begin and end share one, and so do
/// both local ends of a loopback connection, so most lookups spare a SHA-1); and the scratch space
/// events are written into before they are appended. Used by one task at a time.
public final class EncodingCache {
  /// The cached prefix and the scratch space behind one pointer, allocated once: an event reads and
  /// writes them without a retain of an array or an exclusivity check of a property.
  private struct State {
    var second = Int64.min
    var prefix: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    var prefixCount = 0
    var scratch: UnsafeMutablePointer<UInt8>
    var scratchCapacity: Int
  }
  private let state: UnsafeMutablePointer<State>
  let communityIDs = CommunityIDCache()

  public init() {
    state = .allocate(capacity: 1)
    let capacity = 4096
    state.initialize(to: State(scratch: .allocate(capacity: capacity), scratchCapacity: capacity))
  }

  deinit {
    state.pointee.scratch.deallocate()
    state.deinitialize(count: 1)
    state.deallocate()
  }

  /// Writes "YYYY-MM-DDTHH:MM:SS." for `second`, computed again only when the second changes.
  func writePrefix(forSecond second: Int64, to writer: inout JSONWriter) {
    if second != state.pointee.second {
      state.pointee.second = second
      state.pointee.prefixCount = withUnsafeMutableBytes(of: &state.pointee.prefix) { prefix in
        var prefixWriter = JSONWriter(prefix.baseAddress!.assumingMemoryBound(to: UInt8.self))
        prefixWriter.secondPrefix(second)
        return prefixWriter.count
      }
    }
    let count = state.pointee.prefixCount
    withUnsafeBytes(of: &state.pointee.prefix) { writer.bytes(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
  }

  /// Space for at least `count` bytes, valid until the next call.
  func scratch(atLeast count: Int) -> UnsafeMutablePointer<UInt8> {
    if count > state.pointee.scratchCapacity {
      let capacity = max(count, state.pointee.scratchCapacity * 2)
      state.pointee.scratch.deallocate()
      state.pointee.scratch = .allocate(capacity: capacity)
      state.pointee.scratchCapacity = capacity
    }
    return state.pointee.scratch
  }
}

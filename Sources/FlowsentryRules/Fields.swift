import FlowsentryCore
import Synchronization

/// The type of an event field, which decides the operators it takes.
public enum FieldType: String, Sendable {
  case string
  case integer
  case address
  case strings = "[]string"

  /// The type's name after "is", with its article: "an address", "an integer".
  var withArticle: String {
    switch self {
    case .integer, .address: "an \(rawValue)"
    case .string, .strings: "a \(rawValue)"
    }
  }
}

/// One event, its fields read out once, so that every rule reads plain stored values instead of
/// taking the event apart again (which would copy its strings and arrays for each comparison).
/// The values live behind a pointer, allocated once: a class's stored `var` costs a run-time
/// exclusivity check at each read and write, and a load writes twenty of them per event.
final class EventFields {
  struct Values {
    var name: String = ""
    var direction: String?
    var source = Endpoint(.v4(0), 0)
    var destination = Endpoint(.v4(0), 0)
    var local: Endpoint?
    var remote: Endpoint?
    var sourceNames: [String] = []
    var destinationNames: [String] = []
    var closeReason: String?
    var terminatedBy: String?
    var duration: Int64?
    var attempts: Int64?
    var command: String?
    var pid: Int64?
    var uid: Int64?
    var cgroupID: Int64 = 0
    var questions: [String] = []
    var answers: [String] = []
    /// `answers` taken apart once per event: the A and AAAA data as addresses, the CNAME data as
    /// names, so that each list test reads them as they are (a text parsed as an address costs
    /// more than the lookup it feeds, and would be parsed again by every test).
    var answerAddresses: [IPAddress] = []
    var answerNames: [String] = []
    var answered: String?
    var volume: FlowVolume?
    var volumeDelta: FlowVolume?
    var host = ""
    var generation: UInt64 = 0
  }

  private let values: UnsafeMutablePointer<Values>

  var name: String { values.pointee.name }
  var direction: String? { values.pointee.direction }
  var source: Endpoint { values.pointee.source }
  var destination: Endpoint { values.pointee.destination }
  var local: Endpoint? { values.pointee.local }
  var remote: Endpoint? { values.pointee.remote }
  var sourceNames: [String] { values.pointee.sourceNames }
  var destinationNames: [String] { values.pointee.destinationNames }
  var closeReason: String? { values.pointee.closeReason }
  var terminatedBy: String? { values.pointee.terminatedBy }
  var duration: Int64? { values.pointee.duration }
  var attempts: Int64? { values.pointee.attempts }
  var command: String? { values.pointee.command }
  var pid: Int64? { values.pointee.pid }
  var uid: Int64? { values.pointee.uid }
  var cgroupID: Int64 { values.pointee.cgroupID }
  var questions: [String] { values.pointee.questions }
  var answers: [String] { values.pointee.answers }
  var answerAddresses: [IPAddress] { values.pointee.answerAddresses }
  var answerNames: [String] { values.pointee.answerNames }
  var answered: String? { values.pointee.answered }
  var volume: FlowVolume? { values.pointee.volume }
  /// Since the flow's previous report; an event without one (no update before it) adds its volume.
  var volumeDelta: FlowVolume? { values.pointee.volumeDelta }
  /// The sensor that saw the event (`host:`); empty only where none was set (rule tests, the library).
  var host: String { values.pointee.host }
  /// Which load this is, unique among all instances (from 1): what is computed from one event
  /// (a scan, a macro's answer) is kept under it and holds until the next load.
  var generation: UInt64 { values.pointee.generation }
  private static let generations = Atomic<UInt64>(0)

  static func nextGeneration() -> UInt64 { generations.wrappingAdd(1, ordering: .relaxed).newValue }

  /// Sets every value at once (a probe event, `loadGateProbe`).
  func replaceValues(with new: Values) { values.pointee = new }

  var remoteNames: [String] {
    guard let remote = values.pointee.remote else { return [] }
    return remote == values.pointee.source ? values.pointee.sourceNames : values.pointee.destinationNames
  }

  /// The event's lists of names (`Field.nameList`).
  enum NameList { case source, destination, remote, questions }

  /// Whether `test` holds for some name of `list`, given each name's UTF-8 bytes. The names are
  /// read where the event holds them: copying the list out retains it, and each name copied out
  /// of it is retained, a write to a cache line that `test` may never read. `test` must neither
  /// load another event into this instance nor keep the pointer: the bytes are the event's.
  @inline(__always)
  func anyName(in list: NameList, where test: (UnsafeRawBufferPointer) -> Bool) -> Bool {
    switch list {
    case .source: return values.pointee.sourceNames.withUnsafeBufferPointer { Self.any($0, test) }
    case .destination: return values.pointee.destinationNames.withUnsafeBufferPointer { Self.any($0, test) }
    case .questions: return values.pointee.questions.withUnsafeBufferPointer { Self.any($0, test) }
    case .remote:
      guard let remote = values.pointee.remote else { return false }
      return remote == values.pointee.source
        ? values.pointee.sourceNames.withUnsafeBufferPointer { Self.any($0, test) }
        : values.pointee.destinationNames.withUnsafeBufferPointer { Self.any($0, test) }
    }
  }

  @inline(__always)
  private static func any(_ names: UnsafeBufferPointer<String>, _ test: (UnsafeRawBufferPointer) -> Bool) -> Bool {
    for index in names.indices where names[index].withUTF8Bytes(test) { return true }
    return false
  }

  init(_ event: SensorEvent) {
    values = .allocate(capacity: 1)
    values.initialize(to: Values())
    load(event)
  }

  /// An instance to be refilled (the engine's per-event scratch, the event gate's probe): a DNS
  /// event with nothing in it.
  static func blank() -> EventFields {
    EventFields(
      .dns(
        DNSEvent(
          timestamp: 0, source: Endpoint(.v4(0), 0), destination: Endpoint(.v4(0), 0), transport: .udp, cgroupID: 0,
          id: 0, responseCode: 0, questions: [], answers: [], truncated: false)))
  }

  deinit {
    values.deinitialize(count: 1)
    values.deallocate()
  }

  /// Reads another event into this instance: the engine keeps one and refills it per event.
  func load(_ event: SensorEvent) {
    let fields = values
    fields.pointee.generation = Self.nextGeneration()
    fields.pointee.name = event.eventName.rawValue
    switch event {
    case .flow(let flow):
      fields.pointee.direction = flow.direction.rawValue
      fields.pointee.source = flow.source
      fields.pointee.destination = flow.destination
      // As FlowEvent's `local` and `remote` say, read here from stored fields: calling those
      // getters (not inlinable from Core) copies the whole event out of the enum first.
      let sourceIsLocal: Bool
      switch flow.name {
      case .netFlowTCPBegin, .netFlowTCPHalfOpen, .netFlowTCPUpdate: sourceIsLocal = flow.direction == .outgoing
      default: sourceIsLocal = flow.terminatedBy == .local
      }
      fields.pointee.local = sourceIsLocal ? flow.source : flow.destination
      fields.pointee.remote = sourceIsLocal ? flow.destination : flow.source
      fields.pointee.sourceNames = flow.sourceNames
      fields.pointee.destinationNames = flow.destinationNames
      fields.pointee.closeReason = flow.closeReason?.rawValue
      fields.pointee.terminatedBy = flow.terminatedBy?.rawValue
      fields.pointee.duration = flow.durationNanoseconds
      fields.pointee.attempts = flow.attempts.map { Int64(clamping: $0) }
      fields.pointee.command = flow.process?.command
      fields.pointee.pid = flow.process.map { Int64($0.pid) }
      fields.pointee.uid = flow.process.map { Int64($0.uid) }
      fields.pointee.cgroupID = Int64(bitPattern: flow.cgroupID)
      fields.pointee.volume = flow.volume
      fields.pointee.volumeDelta = flow.volumeDelta ?? flow.volume
      fields.pointee.host = flow.host
      if !fields.pointee.questions.isEmpty { fields.pointee.questions = [] }
      Self.load(answers: [], into: fields)
      fields.pointee.answered = nil
    case .dns(let dns):
      fields.pointee.direction = nil
      fields.pointee.source = dns.source
      fields.pointee.destination = dns.destination
      fields.pointee.local = nil
      fields.pointee.remote = nil
      if !fields.pointee.sourceNames.isEmpty { fields.pointee.sourceNames = [] }
      if !fields.pointee.destinationNames.isEmpty { fields.pointee.destinationNames = [] }
      fields.pointee.closeReason = nil
      fields.pointee.terminatedBy = nil
      fields.pointee.duration = nil
      fields.pointee.attempts = nil
      fields.pointee.command = nil
      fields.pointee.pid = nil
      fields.pointee.uid = nil
      fields.pointee.cgroupID = Int64(bitPattern: dns.cgroupID)
      fields.pointee.volume = nil
      fields.pointee.volumeDelta = nil
      fields.pointee.host = dns.host
      fields.pointee.questions = dns.questions
      // The field is addresses and canonical names, as capture decodes them; a recording may carry
      // other types (PTR, TXT), whose data a rule would take for a name or an address.
      Self.load(answers: dns.answers, into: fields)
      fields.pointee.answered = dns.answered ? "true" : "false"
    }
  }
}

extension SensorEvent {
  /// `name`, read in place: Core's getter is not inlinable here, and calling it copies the whole
  /// event (300 bytes) first, on every event.
  var eventName: EventName {
    switch self {
    case .flow(let flow): return flow.name
    case .dns: return .netPacketDNS
    }
  }
}

/// An event field a condition can read. Accessors return nil when the event lacks the field
/// (a DNS event has no `close_reason`): every comparison on a missing field is false.
struct Field: @unchecked Sendable {
  enum Accessor {
    case string((EventFields) -> String?)
    case integer((EventFields) -> Int64?)
    case address((EventFields) -> IPAddress?)
    case strings((EventFields) -> [String])
  }

  var name: String
  var type: FieldType
  var accessor: Accessor
  var summary: String
  /// The event's list of names this field reads, for a `strings` field of names: a domain-list
  /// test walks them in place (``EventFields/anyName(in:where:)``), without the retain per name and
  /// per list that a copy out of the event costs.
  var nameList: EventFields.NameList?
  /// The values an integer field can hold: a condition comparing it with a value outside can never
  /// (or always) match, which is a mistake in the rule, reported where it is written.
  var range: ClosedRange<Int64> = Int64.min...Int64.max
}

enum Fields {
  static let all: [Field] =
    [
      Field(name: "event", type: .string, accessor: .string { $0.name }, summary: "event name"),
      Field(
        name: "host", type: .string, accessor: .string { $0.host.isEmpty ? nil : $0.host },
        summary: "the sensor that saw the event (its host: setting; fleet rules of flowsentry aggregate)"),
      Field(name: "conn_direction", type: .string, accessor: .string { $0.direction }, summary: "outgoing or incoming"),
      Field(name: "src", type: .address, accessor: .address { $0.source.address }, summary: "source address"),
      Field(name: "dst", type: .address, accessor: .address { $0.destination.address }, summary: "destination address"),
      Field(
        name: "src_port", type: .integer, accessor: .integer { Int64($0.source.port) }, summary: "source port",
        range: 0...Int64(UInt16.max)),
      Field(
        name: "dst_port", type: .integer, accessor: .integer { Int64($0.destination.port) },
        summary: "destination port",
        range: 0...Int64(UInt16.max)),
      Field(
        name: "local", type: .address, accessor: .address { $0.local?.address }, summary: "the local socket's address"),
      Field(
        name: "local_port", type: .integer, accessor: .integer { $0.local.map { Int64($0.port) } },
        summary: "the local socket's port", range: 0...Int64(UInt16.max)),
      Field(name: "remote", type: .address, accessor: .address { $0.remote?.address }, summary: "the peer's address"),
      Field(
        name: "remote_port", type: .integer, accessor: .integer { $0.remote.map { Int64($0.port) } },
        summary: "the peer's port", range: 0...Int64(UInt16.max)),
      Field(
        name: "src_dns", type: .strings, accessor: .strings { $0.sourceNames }, summary: "names of src",
        nameList: .source),
      Field(
        name: "dst_dns", type: .strings, accessor: .strings { $0.destinationNames }, summary: "names of dst",
        nameList: .destination),
      Field(
        name: "remote_dns", type: .strings, accessor: .strings { $0.remoteNames }, summary: "names of the peer",
        nameList: .remote),
      Field(
        name: "close_reason", type: .string, accessor: .string { $0.closeReason },
        summary: "fin, rst, refused or timeout (end events)"),
      Field(
        name: "terminated_by", type: .string, accessor: .string { $0.terminatedBy },
        summary: "local or remote (end events)"),
      Field(
        name: "duration_ns", type: .integer, accessor: .integer { $0.duration },
        summary: "flow duration (end events whose begin was seen)", range: 0...Int64.max),
      Field(
        name: "attempts", type: .integer, accessor: .integer { $0.attempts },
        summary: "half-open attempts in this report (half-open events)", range: 0...Int64.max),
      Field(name: "process.comm", type: .string, accessor: .string { $0.command }, summary: "process name"),
      Field(
        name: "process.pid", type: .integer, accessor: .integer { $0.pid }, summary: "process id",
        range: 0...Int64(UInt32.max)),
      Field(
        name: "process.uid", type: .integer, accessor: .integer { $0.uid }, summary: "user id",
        range: 0...Int64(UInt32.max)),
      Field(name: "cgroup_id", type: .integer, accessor: .integer { $0.cgroupID }, summary: "cgroup v2 id"),
      Field(
        name: "dns.questions", type: .strings, accessor: .strings { $0.questions }, summary: "names asked (DNS events)",
        nameList: .questions),
      Field(
        name: "dns.answers", type: .strings, accessor: .strings { $0.answers },
        summary: "answer data: addresses and canonical names (DNS events)"),
      Field(
        name: "dns.answered", type: .string, accessor: .string { $0.answered },
        summary:
          "true, or false for a question no answer came to within dns.question_timeout or before dns.pending_questions newer ones pushed it out (DNS events)"
      ),
    ] + VolumeFields.all + VolumeFields.deltas

  static let byName: [String: Field] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

  /// A field's value, typed, for group keys and distinct counts: hashed without formatting text.
  static func value(_ field: Field, of event: EventFields) -> FieldValue {
    value(field.accessor, of: event)
  }

  /// As `value(_:of:)`, from the accessor alone: copying a whole `Field` retains its texts.
  static func value(_ accessor: Field.Accessor, of event: EventFields) -> FieldValue {
    switch accessor {
    case .string(let read): return read(event).map(FieldValue.string) ?? .missing
    case .integer(let read): return read(event).map(FieldValue.integer) ?? .missing
    case .address(let read): return read(event).map(FieldValue.address) ?? .missing
    case .strings(let read):
      let values = read(event)
      return values.isEmpty ? .missing : .strings(values)
    }
  }

  /// A field's value as text, for output templates.
  static func text(_ field: Field, of event: EventFields) -> String? {
    switch field.accessor {
    case .string(let read): return read(event)
    case .integer(let read): return read(event).map(String.init)
    case .address(let read): return read(event)?.description
    case .strings(let read):
      let values = read(event)
      return values.isEmpty ? nil : values.joined(separator: ",")
    }
  }
}

/// A field's value as a group key or distinct value; text only when an alert is written.
enum FieldValue: Hashable {
  case string(String)
  case integer(Int64)
  case address(IPAddress)
  case strings([String])
  case missing

  var text: String {
    switch self {
    case .string(let value): return value
    case .integer(let value): return String(value)
    case .address(let value): return value.description
    case .strings(let values): return values.joined(separator: ",")
    case .missing: return "-"
    }
  }
}

extension String {
  /// `body` over the string's UTF-8 bytes where they are stored: unlike `withUTF8`, which needs a
  /// mutable copy, this reads a borrowed string without retaining it.
  @inline(__always)
  func withUTF8Bytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    if let result = utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) { return result }
    // A string not stored as contiguous UTF-8 (none the sensor makes) is copied into one.
    var copy = self
    return copy.withUTF8 { body(UnsafeRawBufferPointer($0)) }
  }
}

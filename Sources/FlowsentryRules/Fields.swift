import FlowsentryCore
import Synchronization

/// The type of an event field, which decides the operators it takes.
public enum FieldType: String, Sendable {
  case string
  case integer
  case address
  case strings = "[]string"
}

/// One event, its fields read out once, so that every rule reads plain stored values instead of
/// taking the event apart again (which would copy its strings and arrays for each comparison).
final class EventFields {
  private(set) var name: String = ""
  private(set) var direction: String?
  private(set) var source = Endpoint(.v4(0), 0)
  private(set) var destination = Endpoint(.v4(0), 0)
  private(set) var local: Endpoint?
  private(set) var remote: Endpoint?
  private(set) var sourceNames: [String] = []
  private(set) var destinationNames: [String] = []
  private(set) var closeReason: String?
  private(set) var terminatedBy: String?
  private(set) var duration: Int64?
  private(set) var attempts: Int64?
  private(set) var command: String?
  private(set) var pid: Int64?
  private(set) var uid: Int64?
  private(set) var cgroupID: Int64 = 0
  private(set) var questions: [String] = []
  private(set) var answers: [String] = []
  private(set) var volume: FlowVolume?
  /// Since the flow's previous report; an event without one (no update before it) adds its volume.
  private(set) var volumeDelta: FlowVolume?
  /// The sensor that saw the event (`host:`); empty only where none was set (rule tests, the library).
  private(set) var host = ""
  /// Which load this is, unique among all instances (from 1): what is computed from one event
  /// (a scan, a macro's answer) is kept under it and holds until the next load.
  private(set) var generation: UInt64 = 0
  private static let generations = Atomic<UInt64>(0)

  var remoteNames: [String] {
    guard let remote else { return [] }
    return remote == source ? sourceNames : destinationNames
  }

  init(_ event: SensorEvent) {
    load(event)
  }

  /// Reads another event into this instance: the engine keeps one and refills it per event.
  func load(_ event: SensorEvent) {
    generation = Self.generations.wrappingAdd(1, ordering: .relaxed).newValue
    name = event.eventName.rawValue
    switch event {
    case .flow(let flow):
      direction = flow.direction.rawValue
      source = flow.source
      destination = flow.destination
      // As FlowEvent's `local` and `remote` say, read here from stored fields: calling those
      // getters (not inlinable from Core) copies the whole event out of the enum first.
      let sourceIsLocal: Bool
      switch flow.name {
      case .netFlowTCPBegin, .netFlowTCPHalfOpen, .netFlowTCPUpdate: sourceIsLocal = flow.direction == .outgoing
      default: sourceIsLocal = flow.terminatedBy == .local
      }
      local = sourceIsLocal ? flow.source : flow.destination
      remote = sourceIsLocal ? flow.destination : flow.source
      sourceNames = flow.sourceNames
      destinationNames = flow.destinationNames
      closeReason = flow.closeReason?.rawValue
      terminatedBy = flow.terminatedBy?.rawValue
      duration = flow.durationNanoseconds
      attempts = flow.attempts.map { Int64(clamping: $0) }
      command = flow.process?.command
      pid = flow.process.map { Int64($0.pid) }
      uid = flow.process.map { Int64($0.uid) }
      cgroupID = Int64(bitPattern: flow.cgroupID)
      volume = flow.volume
      volumeDelta = flow.volumeDelta ?? flow.volume
      host = flow.host
      questions = []
      answers = []
    case .dns(let dns):
      direction = nil
      source = dns.source
      destination = dns.destination
      local = nil
      remote = nil
      sourceNames = []
      destinationNames = []
      closeReason = nil
      terminatedBy = nil
      duration = nil
      attempts = nil
      command = nil
      pid = nil
      uid = nil
      cgroupID = Int64(bitPattern: dns.cgroupID)
      volume = nil
      volumeDelta = nil
      host = dns.host
      questions = dns.questions
      answers = dns.answers.map(\.data)
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
      Field(name: "src_dns", type: .strings, accessor: .strings { $0.sourceNames }, summary: "names of src"),
      Field(name: "dst_dns", type: .strings, accessor: .strings { $0.destinationNames }, summary: "names of dst"),
      Field(name: "remote_dns", type: .strings, accessor: .strings { $0.remoteNames }, summary: "names of the peer"),
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
        name: "dns.questions", type: .strings, accessor: .strings { $0.questions }, summary: "names asked (DNS events)"),
      Field(
        name: "dns.answers", type: .strings, accessor: .strings { $0.answers },
        summary: "answer data: addresses and canonical names (DNS events)"),
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

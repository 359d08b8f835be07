import FlowsentryCore

/// The type of an event field, which decides the operators it takes.
public enum FieldType: String, Sendable {
  case string
  case integer
  case address
  case strings = "[]string"
}

/// An event field a condition can read. Accessors return nil when the event lacks the field
/// (a DNS event has no `close_reason`): every comparison on a missing field is false.
struct Field: @unchecked Sendable {
  enum Accessor {
    case string((SensorEvent) -> String?)
    case integer((SensorEvent) -> Int64?)
    case address((SensorEvent) -> IPAddress?)
    case strings((SensorEvent) -> [String])
  }

  var name: String
  var type: FieldType
  var accessor: Accessor
  var summary: String
}

enum Fields {
  private static func flow<T>(_ read: @escaping (FlowEvent) -> T?) -> (SensorEvent) -> T? {
    { event in
      if case .flow(let flow) = event { return read(flow) }
      return nil
    }
  }

  private static func dns<T>(_ read: @escaping (DNSEvent) -> T?) -> (SensorEvent) -> T? {
    { event in
      if case .dns(let dns) = event { return read(dns) }
      return nil
    }
  }

  private static func endpoint(_ event: SensorEvent, source: Bool) -> Endpoint {
    switch event {
    case .flow(let flow): return source ? flow.source : flow.destination
    case .dns(let dns): return source ? dns.source : dns.destination
    }
  }

  static let all: [Field] = [
    Field(name: "event", type: .string, accessor: .string { $0.name.rawValue }, summary: "event name"),
    Field(
      name: "conn_direction", type: .string, accessor: .string(flow { $0.direction.rawValue }),
      summary: "outgoing or incoming"),
    Field(
      name: "src", type: .address, accessor: .address { endpoint($0, source: true).address }, summary: "source address"),
    Field(
      name: "dst", type: .address, accessor: .address { endpoint($0, source: false).address },
      summary: "destination address"),
    Field(
      name: "src_port", type: .integer, accessor: .integer { Int64(endpoint($0, source: true).port) },
      summary: "source port"),
    Field(
      name: "dst_port", type: .integer, accessor: .integer { Int64(endpoint($0, source: false).port) },
      summary: "destination port"),
    Field(
      name: "local", type: .address, accessor: .address(flow { $0.local.address }),
      summary: "the local socket's address"),
    Field(
      name: "local_port", type: .integer, accessor: .integer(flow { Int64($0.local.port) }),
      summary: "the local socket's port"),
    Field(
      name: "remote", type: .address, accessor: .address(flow { $0.remote.address }), summary: "the peer's address"),
    Field(
      name: "remote_port", type: .integer, accessor: .integer(flow { Int64($0.remote.port) }),
      summary: "the peer's port"),
    Field(name: "src_dns", type: .strings, accessor: .strings { flowNames($0, source: true) }, summary: "names of src"),
    Field(
      name: "dst_dns", type: .strings, accessor: .strings { flowNames($0, source: false) }, summary: "names of dst"),
    Field(
      name: "remote_dns", type: .strings,
      accessor: .strings { event in
        guard case .flow(let flow) = event else { return [] }
        return flow.remote == flow.source ? flow.sourceNames : flow.destinationNames
      }, summary: "names of the peer"),
    Field(
      name: "close_reason", type: .string, accessor: .string(flow { $0.closeReason?.rawValue }),
      summary: "fin, rst or refused (end events)"),
    Field(
      name: "terminated_by", type: .string, accessor: .string(flow { $0.terminatedBy?.rawValue }),
      summary: "local or remote (end events)"),
    Field(
      name: "duration_ns", type: .integer, accessor: .integer(flow { $0.durationNanoseconds }),
      summary: "flow duration (end events whose begin was seen)"),
    Field(
      name: "process.comm", type: .string, accessor: .string(flow { $0.process?.command }),
      summary: "process name"),
    Field(
      name: "process.pid", type: .integer, accessor: .integer(flow { $0.process.map { Int64($0.pid) } }),
      summary: "process id"),
    Field(
      name: "process.uid", type: .integer, accessor: .integer(flow { $0.process.map { Int64($0.uid) } }),
      summary: "user id"),
    Field(
      name: "cgroup_id", type: .integer,
      accessor: .integer { event in
        switch event {
        case .flow(let flow): return Int64(bitPattern: flow.cgroupID)
        case .dns(let dns): return Int64(bitPattern: dns.cgroupID)
        }
      }, summary: "cgroup v2 id"),
    Field(
      name: "dns.questions", type: .strings, accessor: .strings { dnsNames($0) }, summary: "names asked (DNS events)"),
    Field(
      name: "dns.answers", type: .strings,
      accessor: .strings { event in
        guard case .dns(let dns) = event else { return [] }
        return dns.answers.map(\.data)
      }, summary: "answer data: addresses and canonical names (DNS events)"),
  ]

  private static func flowNames(_ event: SensorEvent, source: Bool) -> [String] {
    guard case .flow(let flow) = event else { return [] }
    return source ? flow.sourceNames : flow.destinationNames
  }

  private static func dnsNames(_ event: SensorEvent) -> [String] {
    guard case .dns(let dns) = event else { return [] }
    return dns.questions
  }

  static let byName: [String: Field] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

  /// A field's value as text, for group keys, distinct counts and output templates.
  static func text(_ field: Field, of event: SensorEvent) -> String? {
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

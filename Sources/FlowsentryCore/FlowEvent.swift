/// Event names, as Tracee names them.
public enum EventName: String, CaseIterable, Hashable, Sendable {
  case netFlowTCPBegin = "net_flow_tcp_begin"
  case netFlowTCPEnd = "net_flow_tcp_end"
  case netPacketDNS = "net_packet_dns"
  /// Incoming SYNs from one remote that never completed a handshake (a SYN flood, a SYN scan).
  case netFlowTCPHalfOpen = "net_flow_tcp_half_open"
  /// A flow still open after the update interval: its totals so far and what changed since the last report.
  case netFlowTCPUpdate = "net_flow_tcp_update"

  /// Named sets a user can select with `--events`, as Tracee's sets.
  public static let sets: [String: Set<EventName>] = [
    "flows": [.netFlowTCPBegin, .netFlowTCPEnd],
    "network_events": Set(EventName.allCases),
  ]

  /// Parses a comma-separated selection of names and sets ("flows", "net_flow_tcp_end", ...).
  public static func selection(from text: String) throws(EventSelectionError) -> Set<EventName> {
    var selected: Set<EventName> = []
    for item in text.split(separator: ",").map({ String($0.filter { $0 != " " }) }) where !item.isEmpty {
      if let name = EventName(rawValue: item) {
        selected.insert(name)
      } else if let set = sets[item] {
        selected.formUnion(set)
      } else {
        throw EventSelectionError(unknown: item)
      }
    }
    guard !selected.isEmpty else { throw EventSelectionError(unknown: text) }
    return selected
  }
}

public struct EventSelectionError: Error, CustomStringConvertible {
  public var unknown: String
  public var description: String {
    let known = EventName.allCases.map(\.rawValue) + EventName.sets.keys.sorted()
    return "unknown event or set '\(unknown)'; known: \(known.joined(separator: ", "))"
  }
}

/// Who opened the connection, from the local socket's side.
public enum ConnectionDirection: String, Hashable, Sendable {
  /// The local socket initiated (connect).
  case outgoing
  /// The local socket accepted (or, for a refused attempt, was asked to).
  case incoming
}

public enum CloseReason: String, Hashable, Sendable {
  case fin
  case rst
  /// A connection attempt (SYN) answered by RST: nothing listened, or a firewall rejected it.
  case refused
  /// The local stack gave up: retransmission, keepalive or connect timeout, or an ICMP error
  /// (the peer, or the path to it, went silent).
  case timeout
}

public enum Side: String, Hashable, Sendable {
  case local
  case remote
}

/// A flow event: `net_flow_tcp_begin`, `net_flow_tcp_end`, or `net_flow_tcp_half_open` (attempts
/// that never became a flow, from `source`, the remote, to `destination`, the local socket).
///
/// For a begin and an update, `source` is the initiator and `destination` the responder.
/// For an end, `source` is the side that terminated the flow (sent the first FIN or the RST).
public struct FlowEvent: Hashable, Sendable {
  public var name: EventName
  public var timestamp: WallClockNanoseconds
  public var direction: ConnectionDirection
  public var source: Endpoint
  public var destination: Endpoint
  public var sourceNames: [String]
  public var destinationNames: [String]
  /// End events only.
  public var closeReason: CloseReason?
  /// End events only: whether `source` (the terminator) is the local socket or its peer.
  public var terminatedBy: Side?
  /// End events only, when the begin was seen: nanoseconds from begin to end.
  public var durationNanoseconds: Int64?
  public var cgroupID: UInt64
  public var socketCookie: UInt64
  public var process: ProcessIdentity?
  /// Half-open events only: how many attempts this report counts.
  public var attempts: UInt64?
  /// The network namespace of the local socket (the kernel's cookie; 0 when unknown). Not printed:
  /// it keeps DNS names from one namespace off the flows of another.
  public var networkNamespace: UInt64
  /// End (and update) events from a socket the kernel followed: its totals. Nil where nothing
  /// counted them (a begin, a half-open report).
  public var volume: FlowVolume?
  /// Update and end events with `volume`: what the flow carried since its previous report (the begin
  /// of a flow older than the monitor, or the last update), so that adding these up over a flow's
  /// updates and end counts each byte once. `rttMicroseconds` is the current value, not a difference.
  public var volumeDelta: FlowVolume?
  /// Begins (and their flow's updates and end) of a connection already open when the monitor started:
  /// found by the start-up socket walk, its process unknown.
  public var preexisting = false
  /// The sensor that saw it (`host:`); empty until an output or a recording names it. The
  /// aggregate's rules read it (`host`), and an alert's events keep their own.
  public var host = ""

  public init(
    name: EventName, timestamp: WallClockNanoseconds, direction: ConnectionDirection, source: Endpoint,
    destination: Endpoint, sourceNames: [String] = [], destinationNames: [String] = [],
    closeReason: CloseReason? = nil, terminatedBy: Side? = nil, durationNanoseconds: Int64? = nil,
    cgroupID: UInt64 = 0, socketCookie: UInt64 = 0, process: ProcessIdentity? = nil, attempts: UInt64? = nil,
    networkNamespace: UInt64 = 0, volume: FlowVolume? = nil
  ) {
    self.volume = volume
    self.attempts = attempts
    self.networkNamespace = networkNamespace
    self.name = name
    self.timestamp = timestamp
    self.direction = direction
    self.source = source
    self.destination = destination
    self.sourceNames = sourceNames
    self.destinationNames = destinationNames
    self.closeReason = closeReason
    self.terminatedBy = terminatedBy
    self.durationNanoseconds = durationNanoseconds
    self.cgroupID = cgroupID
    self.socketCookie = socketCookie
    self.process = process
  }

  /// The local socket's end of the flow.
  public var local: Endpoint {
    switch name {
    case .netFlowTCPBegin, .netFlowTCPHalfOpen, .netFlowTCPUpdate: return direction == .outgoing ? source : destination
    default: return terminatedBy == .local ? source : destination
    }
  }

  /// The peer's end of the flow.
  public var remote: Endpoint {
    switch name {
    case .netFlowTCPBegin, .netFlowTCPHalfOpen, .netFlowTCPUpdate: return direction == .outgoing ? destination : source
    default: return terminatedBy == .local ? destination : source
    }
  }
}

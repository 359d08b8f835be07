import FlowsentryCore

/// Turns SYN+ACK / FIN / RST observations into exactly one `net_flow_tcp_begin` and one
/// `net_flow_tcp_end` per flow and local socket.
///
/// A flow is keyed by its local and remote endpoints (and cgroup), so the two ends of a loopback
/// connection are two flows: one outgoing, one incoming. Flows whose end was reported are kept a
/// while (`endedFlowMemory`) to absorb retransmitted FINs, the peer's FIN and RSTs after FIN.
/// Both tables are bounded; evicting an open flow is counted, since its end will then be
/// reported without a begin.
public struct FlowTracker {
  public struct Configuration: Sendable {
    /// Open flows kept at most; the least recently active is evicted beyond it.
    public var maximumOpenFlows: Int
    /// Ended flows remembered at most, to absorb late FIN/RST retransmissions.
    public var maximumEndedFlows: Int
    /// How long an ended flow is remembered.
    public var endedFlowMemoryNanoseconds: Int64

    public init(
      maximumOpenFlows: Int = 262_144, maximumEndedFlows: Int = 65_536,
      endedFlowMemoryNanoseconds: Int64 = 120_000_000_000
    ) {
      self.maximumOpenFlows = maximumOpenFlows
      self.maximumEndedFlows = maximumEndedFlows
      self.endedFlowMemoryNanoseconds = endedFlowMemoryNanoseconds
    }
  }

  public struct Counters: Sendable, Equatable {
    public var observations: UInt64 = 0
    public var beginEvents: UInt64 = 0
    public var endEvents: UInt64 = 0
    /// SYN+ACKs for a flow whose begin was already reported (retransmission, simultaneous open).
    public var repeatedHandshakes: UInt64 = 0
    /// FIN/RST for a flow whose end was already reported.
    public var repeatedTerminations: UInt64 = 0
    /// Ends reported for flows whose begin was never seen (older than the monitor, or evicted).
    public var endsWithoutBegin: UInt64 = 0
    /// Open flows evicted because the table was full: their begin was reported, their end will lack a duration.
    public var evictedOpenFlows: UInt64 = 0
    public var openFlows: Int = 0

    public init() {}
  }

  /// Tells whether a local endpoint is a listening socket, to orient flows older than the monitor.
  public typealias ListeningCheck = (Endpoint) -> Bool

  /// The flow's identity packed into plain words: hashed once per packet, so it avoids hashing
  /// the address enums field by field.
  private struct FlowKey: Hashable {
    var localAddress: (UInt64, UInt64)
    var remoteAddress: (UInt64, UInt64)
    /// Local port, remote port and the address family tag.
    var ports: UInt64
    var cgroupID: UInt64

    init(local: Endpoint, remote: Endpoint, cgroupID: UInt64) {
      localAddress = Self.words(local.address)
      remoteAddress = Self.words(remote.address)
      ports = UInt64(local.port) << 32 | UInt64(remote.port) << 16 | (local.address.isIPv4 ? 4 : 6)
      self.cgroupID = cgroupID
    }

    private static func words(_ address: IPAddress) -> (UInt64, UInt64) {
      switch address {
      case .v4(let value): return (0, UInt64(value))
      case .v6(let high, let low): return (high, low)
      }
    }

    static func == (lhs: FlowKey, rhs: FlowKey) -> Bool {
      lhs.localAddress == rhs.localAddress && lhs.remoteAddress == rhs.remoteAddress && lhs.ports == rhs.ports
        && lhs.cgroupID == rhs.cgroupID
    }

    func hash(into hasher: inout Hasher) {
      hasher.combine(localAddress.0 ^ remoteAddress.0 &* 0x9E37_79B9_7F4A_7C15)
      hasher.combine(localAddress.1)
      hasher.combine(remoteAddress.1)
      hasher.combine(ports ^ cgroupID &* 0x9E37_79B9_7F4A_7C15)
    }
  }

  private struct OpenFlow {
    var beganAt: WallClockNanoseconds
    var direction: ConnectionDirection
    var process: ProcessIdentity?
  }

  public let configuration: Configuration
  public private(set) var counters = Counters()
  private var openFlows: LRUDictionary<FlowKey, OpenFlow>
  private var endedFlows: LRUDictionary<FlowKey, WallClockNanoseconds>
  private let isListening: ListeningCheck

  /// The kernel's TCP_SYN_SENT.
  private static let synSentState: UInt8 = 2

  public init(configuration: Configuration = Configuration(), isListening: @escaping ListeningCheck = { _ in false }) {
    self.configuration = configuration
    self.openFlows = LRUDictionary(capacity: configuration.maximumOpenFlows)
    self.endedFlows = LRUDictionary(capacity: configuration.maximumEndedFlows)
    self.isListening = isListening
  }

  /// Feeds one observation; appends the events it causes (zero or one) to `events`.
  public mutating func observe(_ packet: TCPPacketObservation, into events: inout [FlowEvent]) {
    counters.observations += 1
    forgetExpiredEndedFlows(now: packet.timestamp)
    let key = FlowKey(local: packet.local, remote: packet.remote, cgroupID: packet.cgroupID)

    if packet.flags.contains(.rst) {
      terminate(key, packet, reason: .rst, into: &events)
    } else if packet.flags.contains(.fin) {
      terminate(key, packet, reason: .fin, into: &events)
    } else if packet.flags.isSuperset(of: [.syn, .ack]) {
      begin(key, packet, into: &events)
    }
    counters.openFlows = openFlows.count
  }

  private mutating func begin(_ key: FlowKey, _ packet: TCPPacketObservation, into events: inout [FlowEvent]) {
    if openFlows.touch(key) != nil {
      counters.repeatedHandshakes += 1
      return
    }
    // A new handshake on a recently ended tuple is a new connection reusing the ports.
    endedFlows.removeValue(for: key)
    // The SYN+ACK's sender is the responder, so the initiator is its receiver.
    let direction: ConnectionDirection = packet.hook == .egress ? .incoming : .outgoing
    let flow = OpenFlow(beganAt: packet.timestamp, direction: direction, process: packet.process)
    if openFlows.insert(flow, for: key) != nil {
      counters.evictedOpenFlows += 1
    }
    counters.beginEvents += 1
    events.append(
      FlowEvent(
        name: .netFlowTCPBegin, timestamp: packet.timestamp, direction: direction,
        source: packet.destination, destination: packet.source, cgroupID: packet.cgroupID,
        socketCookie: packet.socketCookie, process: packet.process))
  }

  private mutating func terminate(
    _ key: FlowKey, _ packet: TCPPacketObservation, reason: CloseReason, into events: inout [FlowEvent]
  ) {
    if endedFlows.touch(key) != nil {
      counters.repeatedTerminations += 1
      return
    }
    let terminatedBy: Side = packet.hook == .egress ? .local : .remote
    var event = FlowEvent(
      name: .netFlowTCPEnd, timestamp: packet.timestamp, direction: .outgoing, source: packet.source,
      destination: packet.destination, closeReason: reason, terminatedBy: terminatedBy,
      cgroupID: packet.cgroupID, socketCookie: packet.socketCookie, process: packet.process)

    if let flow = openFlows.removeValue(for: key) {
      event.direction = flow.direction
      event.durationNanoseconds = packet.timestamp - flow.beganAt
      event.process = packet.process ?? flow.process
    } else if reason == .rst && isRefusal(packet) {
      event.closeReason = .refused
      // The refusing side sent the RST; the one refused is the one that asked.
      event.direction = terminatedBy == .remote ? .outgoing : .incoming
      counters.endsWithoutBegin += 1
    } else {
      event.direction = isListening(packet.local) ? .incoming : .outgoing
      counters.endsWithoutBegin += 1
    }
    endedFlows.insert(packet.timestamp, for: key)
    counters.endEvents += 1
    events.append(event)
  }

  /// A RST answering a SYN: the asking socket is still in SYN_SENT, or (when the state is not
  /// known, as for the kernel's own replies to a closed port) the RST acknowledges a segment
  /// that carried no ACK, which gives it sequence number 0 (RFC 9293, 3.10.7.1).
  private func isRefusal(_ packet: TCPPacketObservation) -> Bool {
    if packet.socketState == Self.synSentState { return true }
    return packet.flags.contains(.ack) && packet.sequence == 0
  }

  private mutating func forgetExpiredEndedFlows(now: WallClockNanoseconds) {
    while let oldest = endedFlows.oldestEntry,
      now - oldest.value > configuration.endedFlowMemoryNanoseconds
    {
      endedFlows.removeOldest()
    }
  }
}

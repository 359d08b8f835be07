import FlowsentryCore

/// Turns socket state changes (live) and SYN+ACK / FIN / RST packets (capture files, and sockets
/// older than the monitor) into exactly one `net_flow_tcp_begin` and one `net_flow_tcp_end` per flow
/// and local socket.
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
    /// For packet sources without sockets (capture files), which hand over every TCP segment: a
    /// SYN+ACK begins a flow only when it answers a SYN seen before (unless the source has shown no
    /// SYN at all, as a one-way capture), and a FIN or RST ends one only near the sequence number
    /// its sender has reached. Live capture leaves it off: the stack has already validated.
    public var validatesSegments = false
    /// How far from its sender's next sequence number a FIN or RST may be and still end a flow:
    /// a capture does not show the receiver's window, so a generous bound that still refuses
    /// blind guesses (a random sequence number is 4,096 times more likely to be outside it).
    public var sequenceTolerance: UInt32 = 1 << 20
    /// A flow seen open by a socket walk is reported (`net_flow_tcp_update`) once this long has
    /// passed since its begin or its last update; 0 never reports.
    public var updateIntervalNanoseconds: Int64 = 60_000_000_000

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
    /// Validating sources only: SYN+ACKs that answered no SYN seen (forged or stray): no begin.
    public var synAcksWithoutSYN: UInt64 = 0
    /// Validating sources only: FIN/RST far from their sender's sequence: no end.
    public var outOfWindowTerminations: UInt64 = 0
    /// `net_flow_tcp_update` events reported.
    public var updateEvents: UInt64 = 0
    /// Flows older than the monitor found open by a socket walk (reported as begins, `preexisting`).
    public var preexistingFlows: UInt64 = 0
    /// Sockets a walk found open, followed by sock_ops, whose flow is not open here (evicted, or
    /// followed by an earlier monitor): not reported until their end.
    public var walkedUnknownFlows: UInt64 = 0
    /// Walked totals below the last reported ones (the tuple reused by a new socket, or a counter
    /// wrap): the delta counts from zero for a counter that went down below 64 bits' wrap.
    public var countersWentDown: UInt64 = 0
    public var openFlows: Int = 0

    public init() {}
  }

  /// The flow's identity packed into plain words: hashed once per packet, so it avoids hashing
  /// the address enums field by field.
  struct FlowKey: Hashable {
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

    /// Every word goes through the seeded hasher: the addresses and ports are the peer's choice, so
    /// a fold with fixed constants first would let a peer aim every key at one bucket.
    func hash(into hasher: inout Hasher) {
      hasher.combine(localAddress.0)
      hasher.combine(localAddress.1)
      hasher.combine(remoteAddress.0)
      hasher.combine(remoteAddress.1)
      hasher.combine(ports)
      hasher.combine(cgroupID)
    }
  }

  struct OpenFlow {
    var beganAt: WallClockNanoseconds
    var direction: ConnectionDirection
    var process: ProcessIdentity?
    /// Validating sources: the next sequence number each side will send.
    var sequences: SequencePair?
    /// Validating sources: what the segments carried, counted as the kernel counts a socket's.
    var volume: FlowVolume?
    /// The totals of the last report (an update, or a preexisting begin): deltas count from them.
    var reported: FlowVolume?
    /// When the flow was last reported (its begin or its last update).
    var reportedAt: WallClockNanoseconds
    var preexisting = false
  }

  struct SequencePair {
    var local: UInt32
    var remote: UInt32
  }

  public let configuration: Configuration
  public internal(set) var counters = Counters()
  var openFlows: LRUDictionary<FlowKey, OpenFlow>
  /// Validating sources: SYNs waiting for their SYN+ACK, by the view's key, with their sequence number.
  var pendingSYNs: LRUDictionary<FlowKey, UInt32>
  /// Validating sources: whether any SYN was seen (a one-way capture shows none).
  var sawSYN = false
  private var endedFlows: LRUDictionary<FlowKey, WallClockNanoseconds>

  /// The kernel's TCP_SYN_SENT.
  private static let synSentState: UInt8 = 2

  public init(configuration: Configuration = Configuration()) {
    self.configuration = configuration
    self.openFlows = LRUDictionary(capacity: configuration.maximumOpenFlows)
    self.endedFlows = LRUDictionary(capacity: configuration.maximumEndedFlows)
    self.pendingSYNs = LRUDictionary(capacity: configuration.validatesSegments ? 65_536 : 1)
  }

  /// Feeds one packet; appends the events it causes (zero or one) to `events`.
  public mutating func observe(_ packet: TCPPacketObservation, into events: inout [FlowEvent]) {
    counters.observations += 1
    forgetExpiredEndedFlows(now: packet.timestamp)
    let key = FlowKey(local: packet.local, remote: packet.remote, cgroupID: packet.cgroupID)
    var answersPendingSYN = false
    if configuration.validatesSegments {
      switch validate(key, packet) {
      case .ignore:
        counters.openFlows = openFlows.count
        return
      case .accept: break
      case .refusal: answersPendingSYN = true
      }
    }
    let flow = FlowContext(packet)

    if packet.flags.contains(.rst) || packet.flags.contains(.fin) {
      let reason: CloseReason = packet.flags.contains(.rst) ? .rst : .fin
      let terminatedBy: Side = packet.hook == .egress ? .local : .remote
      end(
        key, flow, reason: reason, terminatedBy: terminatedBy, terminator: packet.source, other: packet.destination,
        into: &events
      ) {
        if reason == .rst && (answersPendingSYN || Self.isRefusal(packet)) {
          // The refusing side sent the RST; the one refused is the one that asked.
          return (terminatedBy == .remote ? .outgoing : .incoming, .refused)
        }
        // A flow older than the monitor: accepted when its local end is a listening port (the kernel
        // looked in the socket's own namespace); a capture cannot tell, and calls it outgoing.
        return (packet.localListening == true ? .incoming : .outgoing, reason)
      }
    } else if packet.flags.isSuperset(of: [.syn, .ack]) {
      // The SYN+ACK's sender is the responder, so the initiator is its receiver.
      let direction: ConnectionDirection = packet.hook == .egress ? .incoming : .outgoing
      // The responder's next sequence follows its SYN+ACK; the initiator's is what the SYN+ACK acknowledges.
      let sequences =
        configuration.validatesSegments
        ? (packet.hook == .egress
          ? SequencePair(local: packet.sequence &+ 1, remote: packet.acknowledgment)
          : SequencePair(local: packet.acknowledgment, remote: packet.sequence &+ 1)) : nil
      begin(
        key, flow, direction: direction, initiator: packet.destination, responder: packet.source,
        sequences: sequences, into: &events)
    }
    counters.openFlows = openFlows.count
  }

  /// Feeds one socket state change (live capture's view of what the stack accepted).
  public mutating func observe(_ change: SocketStateChange, into events: inout [FlowEvent]) {
    counters.observations += 1
    forgetExpiredEndedFlows(now: change.timestamp)
    let key = FlowKey(local: change.local, remote: change.remote, cgroupID: change.cgroupID)
    let flow = FlowContext(change)
    switch change.transition {
    case .established:
      let outgoing = change.direction == .outgoing
      // The kernel sends one begin and one end per socket, so there are no late FIN/RST to absorb:
      // socket changes skip the ended-flow memory (half the table work per flow).
      begin(
        key, flow, direction: change.direction, initiator: outgoing ? change.local : change.remote,
        responder: outgoing ? change.remote : change.local, remembersEnds: false, into: &events)
    case .open(let preexisting):
      walked(key, flow, change, preexisting: preexisting, into: &events)
    case .ended(let reason, let side):
      end(
        key, flow, reason: reason, terminatedBy: side, terminator: side == .local ? change.local : change.remote,
        other: side == .local ? change.remote : change.local, remembersEnds: false, volume: change.volume,
        into: &events
      ) { (change.direction, reason) }
    }
    counters.openFlows = openFlows.count
  }

  /// What every event of one observation shares.
  private struct FlowContext {
    var timestamp: WallClockNanoseconds
    var cgroupID: UInt64
    var socketCookie: UInt64
    var networkNamespace: UInt64
    var process: ProcessIdentity?

    init(_ packet: TCPPacketObservation) {
      timestamp = packet.timestamp
      cgroupID = packet.cgroupID
      socketCookie = packet.socketCookie
      networkNamespace = packet.networkNamespace
      process = packet.process
    }

    init(_ change: SocketStateChange) {
      timestamp = change.timestamp
      cgroupID = change.cgroupID
      socketCookie = change.socketCookie
      networkNamespace = change.networkNamespace
      process = change.process
    }
  }

  private mutating func begin(
    _ key: FlowKey, _ flow: FlowContext, direction: ConnectionDirection, initiator: Endpoint, responder: Endpoint,
    sequences: SequencePair? = nil, remembersEnds: Bool = true, into events: inout [FlowEvent]
  ) {
    let open = OpenFlow(
      beganAt: flow.timestamp, direction: direction, process: flow.process, sequences: sequences,
      volume: sequences == nil ? nil : FlowVolume(), reportedAt: flow.timestamp)
    let (inserted, evicted) = openFlows.insertIfAbsent(open, for: key)
    if evicted != nil { counters.evictedOpenFlows += 1 }
    guard inserted else {
      counters.repeatedHandshakes += 1
      return
    }
    // A new handshake on a recently ended tuple is a new connection reusing the ports.
    if remembersEnds { endedFlows.removeValue(for: key) }
    counters.beginEvents += 1
    events.append(
      FlowEvent(
        name: .netFlowTCPBegin, timestamp: flow.timestamp, direction: direction, source: initiator,
        destination: responder, cgroupID: flow.cgroupID, socketCookie: flow.socketCookie, process: flow.process,
        networkNamespace: flow.networkNamespace))
  }

  /// A socket a walk found open: reported when the update interval has passed since its last report;
  /// one older than the monitor begins here, `preexisting`, with its totals so far as the base of
  /// its deltas (what it carried before the monitor is in its totals, never in a delta).
  private mutating func walked(
    _ key: FlowKey, _ flow: FlowContext, _ change: SocketStateChange, preexisting: Bool,
    into events: inout [FlowEvent]
  ) {
    let totals = change.volume ?? FlowVolume()
    let outgoing = change.direction == .outgoing
    let (initiator, responder) = outgoing ? (change.local, change.remote) : (change.remote, change.local)
    // Touched: the kernel says the socket is open, so it is not the one to evict.
    guard var open = openFlows.touch(key) else {
      guard preexisting else {
        counters.walkedUnknownFlows += 1
        return
      }
      var flowState = OpenFlow(
        beganAt: flow.timestamp, direction: change.direction, process: nil, sequences: nil,
        reportedAt: flow.timestamp)
      flowState.reported = totals
      flowState.preexisting = true
      if openFlows.insertIfAbsent(flowState, for: key).evicted != nil { counters.evictedOpenFlows += 1 }
      counters.beginEvents += 1
      counters.preexistingFlows += 1
      var event = FlowEvent(
        name: .netFlowTCPBegin, timestamp: flow.timestamp, direction: change.direction, source: initiator,
        destination: responder, cgroupID: flow.cgroupID, socketCookie: flow.socketCookie,
        networkNamespace: flow.networkNamespace, volume: totals)
      event.preexisting = true
      events.append(event)
      return
    }
    let interval = configuration.updateIntervalNanoseconds
    guard interval > 0, Self.saturatingDifference(flow.timestamp, open.reportedAt) >= interval else { return }
    let previous = open.reported ?? FlowVolume()
    if totals.wentBelow(previous) { counters.countersWentDown += 1 }
    var event = FlowEvent(
      name: .netFlowTCPUpdate, timestamp: flow.timestamp, direction: open.direction, source: initiator,
      destination: responder, durationNanoseconds: Self.saturatingDifference(flow.timestamp, open.beganAt),
      cgroupID: flow.cgroupID, socketCookie: flow.socketCookie, process: open.process,
      networkNamespace: flow.networkNamespace, volume: totals)
    event.volumeDelta = totals.since(previous)
    event.preexisting = open.preexisting
    open.reported = totals
    open.reportedAt = flow.timestamp
    openFlows.insert(open, for: key)
    counters.updateEvents += 1
    events.append(event)
  }

  /// Ends a flow once. `withoutBegin` gives the direction and reason when no begin was seen.
  private mutating func end(
    _ key: FlowKey, _ flow: FlowContext, reason: CloseReason, terminatedBy: Side, terminator: Endpoint,
    other: Endpoint, remembersEnds: Bool = true, volume: FlowVolume? = nil, into events: inout [FlowEvent],
    withoutBegin: () -> (ConnectionDirection, CloseReason)
  ) {
    if remembersEnds && endedFlows.touch(key) != nil {
      counters.repeatedTerminations += 1
      return
    }
    var event = FlowEvent(
      name: .netFlowTCPEnd, timestamp: flow.timestamp, direction: .outgoing, source: terminator,
      destination: other, closeReason: reason, terminatedBy: terminatedBy,
      cgroupID: flow.cgroupID, socketCookie: flow.socketCookie, process: flow.process,
      networkNamespace: flow.networkNamespace, volume: volume)

    if let open = openFlows.removeValue(for: key) {
      event.direction = open.direction
      if event.volume == nil { event.volume = open.volume }
      if let volume = event.volume {
        let previous = open.reported ?? FlowVolume()
        if volume.wentBelow(previous) { counters.countersWentDown += 1 }
        event.volumeDelta = volume.since(previous)
      }
      event.preexisting = open.preexisting
      // Saturated: a capture's timestamps are the file's to choose, years apart or out of order.
      event.durationNanoseconds = Self.saturatingDifference(flow.timestamp, open.beganAt)
      event.process = flow.process ?? open.process
    } else {
      (event.direction, event.closeReason) = withoutBegin()
      event.volumeDelta = event.volume
      counters.endsWithoutBegin += 1
    }
    if remembersEnds { endedFlows.insert(flow.timestamp, for: key) }
    counters.endEvents += 1
    events.append(event)
  }

  /// A RST answering a SYN: the asking socket is still in SYN_SENT, or (when the state is not
  /// known, as for the kernel's own replies to a closed port) the RST acknowledges a segment
  /// that carried no ACK, which gives it sequence number 0 (RFC 9293, 3.10.7.1).
  private static func isRefusal(_ packet: TCPPacketObservation) -> Bool {
    if packet.socketState == synSentState { return true }
    return packet.flags.contains(.ack) && packet.sequence == 0
  }

  /// `later - earlier`, clamped to Int64's range instead of trapping.
  static func saturatingDifference(_ later: Int64, _ earlier: Int64) -> Int64 { later.saturatingSubtraction(earlier) }

  private mutating func forgetExpiredEndedFlows(now: WallClockNanoseconds) {
    while let oldest = endedFlows.oldestEntry,
      Self.saturatingDifference(now, oldest.value) > configuration.endedFlowMemoryNanoseconds
    {
      endedFlows.removeOldest()
    }
  }
}

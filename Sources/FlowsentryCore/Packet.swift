/// One side of a TCP connection.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
  public var address: IPAddress
  public var port: UInt16

  public init(_ address: IPAddress, _ port: UInt16) {
    self.address = address
    self.port = port
  }

  public var description: String {
    HostAndPort.text(host: address.description, port: Int(port))
  }
}

/// Which cgroup skb hook saw a packet: ingress packets are addressed to a local socket,
/// egress packets leave one.
public enum Hook: UInt8, Sendable {
  case ingress = 0
  case egress = 1
}

/// TCP header flags (byte 13 of the header).
public struct TCPFlags: OptionSet, Hashable, Sendable {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  public static let fin = TCPFlags(rawValue: 0x01)
  public static let syn = TCPFlags(rawValue: 0x02)
  public static let rst = TCPFlags(rawValue: 0x04)
  public static let psh = TCPFlags(rawValue: 0x08)
  public static let ack = TCPFlags(rawValue: 0x10)
}

/// The process that created a socket, as recorded when the socket was made.
public struct ProcessIdentity: Hashable, Sendable {
  public var pid: UInt32
  public var uid: UInt32
  public var command: String

  public init(pid: UInt32, uid: UInt32, command: String) {
    self.pid = pid
    self.uid = uid
    self.command = command
  }
}

/// Nanoseconds since the Unix epoch (wall clock).
public typealias WallClockNanoseconds = Int64

/// A TCP packet that can move a flow between states (SYN+ACK, FIN or RST), seen from one local socket.
/// Live capture sends only FIN/RST of sockets older than the monitor and the kernel's refusals (the
/// socket's own state changes, `SocketStateChange`, carry everything else); a capture file sends all.
public struct TCPPacketObservation: Sendable {
  public var timestamp: WallClockNanoseconds
  public var hook: Hook
  public var source: Endpoint
  public var destination: Endpoint
  public var flags: TCPFlags
  public var sequence: UInt32
  public var acknowledgment: UInt32
  /// The kernel's TCP state of the socket the packet belongs to, when known (2 = SYN_SENT).
  public var socketState: UInt8?
  public var cgroupID: UInt64
  public var socketCookie: UInt64
  public var process: ProcessIdentity?
  /// The network namespace the packet was seen in (0 when unknown).
  public var networkNamespace: UInt64
  /// TCP payload bytes (capture files; live records leave it 0).
  public var payloadLength: UInt32
  /// Whether a socket listens on the local end, in the local socket's own network namespace (the
  /// kernel looks it up for sockets older than the monitor); nil when unknown.
  public var localListening: Bool?

  public init(
    timestamp: WallClockNanoseconds, hook: Hook, source: Endpoint, destination: Endpoint, flags: TCPFlags,
    networkNamespace: UInt64 = 0, sequence: UInt32 = 1, acknowledgment: UInt32 = 1, socketState: UInt8? = nil,
    cgroupID: UInt64 = 0, socketCookie: UInt64 = 0, process: ProcessIdentity? = nil, payloadLength: UInt32 = 0,
    localListening: Bool? = nil
  ) {
    self.localListening = localListening
    self.networkNamespace = networkNamespace
    self.payloadLength = payloadLength
    self.timestamp = timestamp
    self.hook = hook
    self.source = source
    self.destination = destination
    self.flags = flags
    self.sequence = sequence
    self.acknowledgment = acknowledgment
    self.socketState = socketState
    self.cgroupID = cgroupID
    self.socketCookie = socketCookie
    self.process = process
  }

  /// The local socket's end: the sender of an egress packet, the receiver of an ingress one.
  public var local: Endpoint { hook == .egress ? source : destination }
  public var remote: Endpoint { hook == .egress ? destination : source }
}

/// A local socket's flow began or ended, as the TCP stack itself decided: the begin when the
/// handshake completed (the socket reached ESTABLISHED), the end when it reached CLOSE (after a FIN
/// sent or accepted, an accepted RST, a timeout, an abort), with the socket's totals.
/// Unlike a packet, it cannot be forged from the network: the stack has already validated it.
public struct SocketStateChange: Sendable {
  public enum Transition: Sendable, Equatable {
    case established
    case ended(CloseReason, by: Side)
    /// Seen open by a socket walk, with its totals so far in `volume`. `preexisting`: older than the
    /// monitor (sock_ops had not followed it; the walk made it follow, when the kernel allowed).
    case open(preexisting: Bool)
  }

  public var timestamp: WallClockNanoseconds
  public var transition: Transition
  public var direction: ConnectionDirection
  public var local: Endpoint
  public var remote: Endpoint
  public var cgroupID: UInt64
  public var socketCookie: UInt64
  public var networkNamespace: UInt64
  public var process: ProcessIdentity?
  /// Ends: what the socket carried until it closed; walks (`open`): what it carried so far.
  public var volume: FlowVolume?

  public init(
    timestamp: WallClockNanoseconds, transition: Transition, direction: ConnectionDirection, local: Endpoint,
    remote: Endpoint, cgroupID: UInt64 = 0, socketCookie: UInt64 = 0, networkNamespace: UInt64 = 0,
    process: ProcessIdentity? = nil, volume: FlowVolume? = nil
  ) {
    self.volume = volume
    self.timestamp = timestamp
    self.transition = transition
    self.direction = direction
    self.local = local
    self.remote = remote
    self.cgroupID = cgroupID
    self.socketCookie = socketCookie
    self.networkNamespace = networkNamespace
    self.process = process
  }
}

/// Incoming SYNs from one remote that reached a listening socket but never completed a handshake,
/// counted in the kernel and reported once settled. No flow exists for them.
public struct HalfOpenObservation: Sendable, Equatable {
  public var timestamp: WallClockNanoseconds
  /// The remote address, with the source port of its latest such SYN.
  public var remote: Endpoint
  /// The local address and port its latest such SYN was sent to.
  public var local: Endpoint
  public var attempts: UInt64
  public var networkNamespace: UInt64

  public init(
    timestamp: WallClockNanoseconds, remote: Endpoint, local: Endpoint, attempts: UInt64, networkNamespace: UInt64 = 0
  ) {
    self.timestamp = timestamp
    self.remote = remote
    self.local = local
    self.attempts = attempts
    self.networkNamespace = networkNamespace
  }

  /// As an event: `net_flow_tcp_half_open`, from the remote to the local endpoint.
  public var event: FlowEvent {
    FlowEvent(
      name: .netFlowTCPHalfOpen, timestamp: timestamp, direction: .incoming, source: remote, destination: local,
      attempts: attempts, networkNamespace: networkNamespace)
  }
}

/// One side of a TCP connection.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
  public var address: IPAddress
  public var port: UInt16

  public init(_ address: IPAddress, _ port: UInt16) {
    self.address = address
    self.port = port
  }

  public var description: String {
    address.isIPv4 ? "\(address):\(port)" : "[\(address)]:\(port)"
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
/// Produced by live capture (FlowsentryCapture) or by any other source of packets.
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

  public init(
    timestamp: WallClockNanoseconds, hook: Hook, source: Endpoint, destination: Endpoint, flags: TCPFlags,
    sequence: UInt32 = 1, acknowledgment: UInt32 = 1, socketState: UInt8? = nil, cgroupID: UInt64 = 0,
    socketCookie: UInt64 = 0, process: ProcessIdentity? = nil
  ) {
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

import FlowsentryOutput
import FlowsentrySpool
import NIOCore
import NIOSSL

#if canImport(Glibc)
  import Glibc
#endif

/// One connection to a receiver, driven by its output's thread. Records go out in sequence order;
/// `acknowledged()` says how far the receiver has taken them, which is what the spool commits.
protocol Transport: AnyObject {
  func send(_ records: [Spool.Record]) throws(TransportError)
  /// The highest sequence accepted together with every record sent before it, when it moved.
  func acknowledged() throws(TransportError) -> UInt64?
  /// Records sent and not acknowledged yet.
  var unacknowledged: Int { get }
  /// After a failure: the highest sequence known delivered before it, to commit all the same.
  func salvage() -> UInt64?
}

extension Transport {
  func salvage() -> UInt64? { nil }
}

/// Syslog over TCP (RFC 6587 octet counting) or TLS (RFC 5425). A record counts as delivered once
/// the receiver's TCP has acknowledged every byte of its frame (SIOCOUTQ): it then sits in the
/// receiver's socket or application, and a receiver that crashes later can still lose it; what
/// was written and not acknowledged when a connection breaks is sent again on the next one.
final class SyslogStreamTransport: Transport {
  private let socket: StreamSocket
  private let tls: TLSSession?
  private let writeTimeoutMilliseconds: Int32
  /// Sent records' sequences and the byte offset (ciphertext for TLS) where each frame ends.
  private var inFlight: [(sequence: UInt64, end: Int64)] = []
  private var inFlightHead = 0
  /// TLS: until the receiver showed it accepted us (see `TLSSession.receivedAfterHandshake`) or
  /// this monotonic time passed without a complaint, nothing counts as delivered.
  private let confirmationDeadline: UInt64

  init(
    host: String, port: UInt16, tls: NIOSSLContext?, serverName: String?, timeoutMilliseconds: Int32
  ) throws(TransportError) {
    socket = try StreamSocket.connect(host: host, port: port, kind: .tcp, timeoutMilliseconds: timeoutMilliseconds)
    writeTimeoutMilliseconds = timeoutMilliseconds
    if let tls {
      let peer = try socket.peerAddress()
      self.tls = try TLSSession(
        context: tls, serverName: serverName, socket: socket, peer: peer, timeoutMilliseconds: timeoutMilliseconds)
    } else {
      self.tls = nil
    }
    confirmationDeadline = ForwardingOutput.now() + Self.confirmationMilliseconds * 1_000_000
  }

  /// A TLS 1.3 receiver that sends no session ticket is trusted after this long without an alert.
  static let confirmationMilliseconds: UInt64 = 1_000

  deinit { tls?.close(on: socket) }

  var unacknowledged: Int { inFlight.count - inFlightHead }

  func send(_ records: [Spool.Record]) throws(TransportError) {
    for record in records {
      let frame = SyslogMessage.octetCounted(record.payload)
      if let tls {
        try tls.send(frame, to: socket, timeoutMilliseconds: writeTimeoutMilliseconds)
      } else {
        try socket.write(frame, timeoutMilliseconds: writeTimeoutMilliseconds)
      }
      inFlight.append((record.sequence, socket.written))
    }
  }

  func acknowledged() throws(TransportError) -> UInt64? {
    // Syslog receivers do not talk back: what arrives is TLS housekeeping or the close.
    guard let incoming = try socket.readAvailable() else { throw .broken("\(socket.peer) closed the connection") }
    if let tls, !incoming.isEmpty { try tls.receive(incoming) }
    if let tls, !tls.receivedAfterHandshake, ForwardingOutput.now() < confirmationDeadline { return nil }
    let acknowledgedBytes = try socket.acknowledgedBytes()
    var last: UInt64?
    while inFlightHead < inFlight.count, inFlight[inFlightHead].end <= acknowledgedBytes {
      last = inFlight[inFlightHead].sequence
      inFlightHead += 1
    }
    if inFlightHead > 1024, inFlightHead * 2 > inFlight.count {
      inFlight.removeFirst(inFlightHead)
      inFlightHead = 0
    }
    return last
  }
}

/// Syslog over UDP (RFC 5426): one message per datagram, cut to `maximumSize`. Lossy by nature:
/// a datagram counts as delivered once the kernel took it, and nothing tells whether it arrived.
final class SyslogDatagramTransport: Transport {
  private let socket: StreamSocket
  private let maximumSize: Int
  private var lastSent: UInt64?
  private(set) var truncated: UInt64 = 0

  init(host: String, port: UInt16, maximumSize: Int, timeoutMilliseconds: Int32) throws(TransportError) {
    socket = try StreamSocket.connect(host: host, port: port, kind: .udp, timeoutMilliseconds: timeoutMilliseconds)
    self.maximumSize = maximumSize
  }

  var unacknowledged: Int { 0 }

  func send(_ records: [Spool.Record]) throws(TransportError) {
    for record in records {
      if record.payload.count > maximumSize { truncated += 1 }
      try socket.write(Self.cut(record.payload, toBytes: maximumSize), timeoutMilliseconds: 1_000)
      lastSent = record.sequence
    }
  }

  func acknowledged() throws(TransportError) -> UInt64? {
    defer { lastSent = nil }
    return lastSent
  }

  /// `message` cut to at most `limit` bytes at a UTF-8 character boundary (RFC 5424 MSG is UTF-8:
  /// half a character would make the whole message invalid to a strict receiver).
  static func cut(_ message: [UInt8], toBytes limit: Int) -> ArraySlice<UInt8> {
    guard message.count > limit else { return message[...] }
    var end = limit
    // A character is at most 4 bytes: back over at most 3 continuation bytes (10xxxxxx).
    while end > 0, limit - end < 3, message[end] & 0xC0 == 0x80 { end -= 1 }
    return message[..<end]
  }
}

extension StreamSocket {
  /// The connected peer as NIO's address (TLS verifies a certificate against it when no server
  /// name is configured).
  func peerAddress() throws(TransportError) -> SocketAddress {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let status = withUnsafeMutablePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &length) }
    }
    guard status == 0 else { throw .broken("getpeername: \(errno)") }
    switch Int32(storage.ss_family) {
    case AF_INET:
      let address = withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
      }
      return SocketAddress(address, host: "")
    default:
      let address = withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee }
      }
      return SocketAddress(address, host: "")
    }
  }
}

import NIOCore
import NIOEmbedded
import NIOSSL
import NIOTLS

#if canImport(Glibc)
  import Glibc
#endif

/// TLS over one of our blocking-style sockets: swift-nio-ssl's client handler in an embedded
/// channel turns plaintext into the exact ciphertext bytes that go on the wire, so a record's
/// delivery is judged on the bytes the peer's TCP acknowledged, as for plain TCP.
final class TLSSession {
  private let channel = EmbeddedChannel()
  private let handshake = HandshakeObserver()

  /// Connects TLS over `socket` (already connected to `peer`), verifying the peer's certificate
  /// against `serverName` or, without one, against the IP address it was reached at.
  init(
    context: NIOSSLContext, serverName: String?, socket: StreamSocket, peer: SocketAddress,
    timeoutMilliseconds: Int32
  ) throws(TransportError) {
    do {
      let handler = try NIOSSLClientHandler(context: context, serverHostname: serverName)
      try channel.pipeline.syncOperations.addHandler(handler)
      try channel.pipeline.syncOperations.addHandler(handshake)
      try channel.connect(to: peer).wait()
    } catch {
      throw .tls("\(error)")
    }
    var waited: Int32 = 0
    while !handshake.completed {
      try flushCiphertext(to: socket)
      guard waited < timeoutMilliseconds else { throw .tls("no handshake with \(socket.peer) within \(waited) ms") }
      if socket.wait(for: Int16(POLLIN), timeoutMilliseconds: 50) {
        guard let bytes = try socket.readAvailable() else {
          throw .tls("\(socket.peer) closed the connection during the handshake (certificate refused?)")
        }
        try receive(bytes)
      } else {
        waited += 50
      }
    }
    try flushCiphertext(to: socket)
  }

  deinit { _ = try? channel.finish() }

  /// Encrypts `plaintext` and writes the records to `socket`.
  func send(_ plaintext: [UInt8], to socket: StreamSocket, timeoutMilliseconds: Int32) throws(TransportError) {
    do {
      try channel.writeOutbound(ByteBuffer(bytes: plaintext))
    } catch {
      throw .broken("TLS to \(socket.peer): \(error)")
    }
    try flushCiphertext(to: socket, timeoutMilliseconds: timeoutMilliseconds)
  }

  /// Feeds bytes read from the socket: handshake messages, alerts, a close_notify.
  func receive(_ bytes: [UInt8]) throws(TransportError) {
    do {
      try channel.writeInbound(ByteBuffer(bytes: bytes))
      while try channel.readInbound(as: ByteBuffer.self) != nil {}
    } catch {
      throw .tls("\(error)")
    }
    guard channel.isActive else { throw .broken("the receiver closed the TLS session") }
  }

  private func flushCiphertext(to socket: StreamSocket, timeoutMilliseconds: Int32 = 5_000) throws(TransportError) {
    while true {
      let next: ByteBuffer?
      do {
        next = try channel.readOutbound(as: ByteBuffer.self)
      } catch {
        throw .tls("\(error)")
      }
      guard let buffer = next else { return }
      try socket.write(buffer.readableBytesView, timeoutMilliseconds: timeoutMilliseconds)
    }
  }
}

/// Notes the handshake's end; errors reach the embedded channel's caller through `writeInbound`.
private final class HandshakeObserver: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias InboundOut = ByteBuffer
  var completed = false

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent { completed = true }
    context.fireUserInboundEventTriggered(event)
  }
}

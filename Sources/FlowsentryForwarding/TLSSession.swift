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
///
/// Nothing here may wait on a future: the embedded loop runs only when we feed it, so a future that
/// needs the peer (the close_notify exchange) would never complete.
final class TLSSession {
  private let channel = EmbeddedChannel()
  private let handshake = HandshakeObserver()
  private var closed = false
  /// Set once the receiver sent something after the handshake without failing it. With TLS 1.3
  /// the client's handshake ends before the server has judged the client's certificate: a
  /// receiver that refuses it says so after, and records TCP-acknowledged meanwhile are not
  /// delivered. Its session tickets (or any record) say it accepted us.
  private(set) var receivedAfterHandshake = false

  /// Connects TLS over `socket` (already connected to `peer`), verifying the peer's certificate
  /// against `serverName` only, or, without one, against the IP address it was reached at.
  init(
    context: NIOSSLContext, serverName: String?, socket: StreamSocket, peer: SocketAddress,
    timeoutMilliseconds: Int32
  ) throws(TransportError) {
    do {
      let handler = try NIOSSLClientHandler(context: context, serverHostname: serverName)
      try channel.pipeline.syncOperations.addHandler(handler)
      try channel.pipeline.syncOperations.addHandler(handshake)
      // swift-nio-ssl accepts a certificate whose IP entry matches the channel's peer even when a
      // server name is given: with a name, the peer is an address no certificate can carry.
      let verifiedPeer = serverName == nil ? peer : try SocketAddress(unixDomainSocketPath: "/flowsentry-no-ip")
      try channel.connect(to: verifiedPeer).wait()
    } catch {
      close(on: nil)
      throw .tls("\(error)")
    }
    var waited: Int32 = 0
    do throws(TransportError) {
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
      if let version = try? channel.pipeline.syncOperations.handler(type: NIOSSLClientHandler.self).tlsVersion,
        version != .tlsv13
      {
        // Before 1.3 the server's Finished came after it checked our certificate.
        receivedAfterHandshake = true
      }
    } catch {
      close(on: nil)
      throw error
    }
  }

  deinit { close(on: nil) }

  /// Sends close_notify (RFC 8446 6.1) when `socket` is given and has room, then tears the
  /// channel down without waiting for the peer's answer.
  func close(on socket: StreamSocket?) {
    guard !closed else { return }
    closed = true
    channel.close(promise: nil)
    if let socket { try? flushCiphertext(to: socket, timeoutMilliseconds: 100) }
    // The handler waits for the peer's close_notify until its shutdown timeout, a task on the
    // embedded loop that runs only when time is advanced.
    channel.embeddedEventLoop.advanceTime(by: .hours(1))
    while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
    while (try? channel.readInbound(as: ByteBuffer.self)) != nil {}
    _ = try? channel.throwIfErrorCaught()
    _ = try? channel.finish(acceptAlreadyClosed: true)
  }

  /// Encrypts `plaintext` and writes the records to `socket`.
  func send(_ plaintext: [UInt8], to socket: StreamSocket, timeoutMilliseconds: Int32) throws(TransportError) {
    do {
      try channel.writeOutbound(ByteBuffer(bytes: plaintext))
    } catch {
      throw .broken("TLS to \(socket.peer): \(error)")
    }
    try flushCiphertext(to: socket, timeoutMilliseconds: timeoutMilliseconds)
  }

  /// Feeds bytes read from the socket: handshake messages, session tickets, alerts, a close_notify.
  func receive(_ bytes: [UInt8]) throws(TransportError) {
    let afterHandshake = handshake.completed
    do {
      try channel.writeInbound(ByteBuffer(bytes: bytes))
      while try channel.readInbound(as: ByteBuffer.self) != nil {}
    } catch {
      throw .tls("\(error)")
    }
    guard channel.isActive else { throw .broken("the receiver closed the TLS session") }
    if afterHandshake { receivedAfterHandshake = true }
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

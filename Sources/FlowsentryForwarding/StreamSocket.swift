import CFlowsentrySocket
import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// A non-blocking TCP or UDP socket driven by one output's thread: every wait is bounded, so a
/// receiver that stops reading can delay its own output but never hang the sensor's shutdown.
/// All syscalls of the forwarding outputs go through here, errors as `Errno`.
final class StreamSocket {
  enum Kind { case tcp, udp }

  let descriptor: Int32
  let kind: Kind
  let peer: String
  /// Bytes handed to the kernel since the connection opened.
  private(set) var written: Int64 = 0

  private init(descriptor: Int32, kind: Kind, peer: String) {
    self.descriptor = descriptor
    self.kind = kind
    self.peer = peer
  }

  deinit { Glibc.close(descriptor) }

  /// Resolves `host` (getaddrinfo, on the calling thread) and connects to the first address that
  /// answers within `timeoutMilliseconds`.
  static func connect(host: String, port: UInt16, kind: Kind, timeoutMilliseconds: Int32) throws(TransportError)
    -> StreamSocket
  {
    var hints = addrinfo()
    hints.ai_socktype = Int32(kind == .tcp ? SOCK_STREAM.rawValue : SOCK_DGRAM.rawValue)
    hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV
    var list: UnsafeMutablePointer<addrinfo>?
    let status = getaddrinfo(host, String(port), &hints, &list)
    guard status == 0, let list else {
      throw .unreachable("cannot resolve \(host): \(String(cString: gai_strerror(status)))")
    }
    defer { freeaddrinfo(list) }
    var lastError = Errno.noRouteToHost
    var entry: UnsafeMutablePointer<addrinfo>? = list
    while let current = entry {
      entry = current.pointee.ai_next
      let descriptor = socket(
        current.pointee.ai_family, current.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue),
        current.pointee.ai_protocol)
      guard descriptor >= 0 else {
        lastError = Errno(rawValue: errno)
        continue
      }
      let connection = StreamSocket(descriptor: descriptor, kind: kind, peer: "\(host):\(port)")
      if Glibc.connect(descriptor, current.pointee.ai_addr, current.pointee.ai_addrlen) == 0 { return connection }
      guard errno == EINPROGRESS else {
        lastError = Errno(rawValue: errno)
        continue
      }
      guard connection.wait(for: Int16(POLLOUT), timeoutMilliseconds: timeoutMilliseconds) else {
        lastError = .timedOut
        continue
      }
      var failure: Int32 = 0
      var length = socklen_t(MemoryLayout<Int32>.size)
      getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &failure, &length)
      guard failure == 0 else {
        lastError = Errno(rawValue: failure)
        continue
      }
      if kind == .tcp {
        var on: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_KEEPALIVE, &on, socklen_t(MemoryLayout<Int32>.size))
      }
      return connection
    }
    throw .unreachable("\(host):\(port): \(lastError)")
  }

  /// Waits until the socket is ready for `events` (POLLIN, POLLOUT) or the timeout passes.
  func wait(for events: Int16, timeoutMilliseconds: Int32) -> Bool {
    var entry = pollfd(fd: descriptor, events: events, revents: 0)
    return poll(&entry, 1, timeoutMilliseconds) > 0 && entry.revents & (events | Int16(POLLERR | POLLHUP)) != 0
  }

  /// Writes all of `bytes`, waiting for room up to `timeoutMilliseconds` in all.
  func write(_ bytes: some Collection<UInt8>, timeoutMilliseconds: Int32) throws(TransportError) {
    // Frames arrive as arrays (no copy); other collections (TLS buffers' views) are copied once.
    let contiguous = bytes as? [UInt8] ?? Array(bytes)
    var offset = 0
    while offset < contiguous.count {
      let result = contiguous.withUnsafeBytes { buffer in
        send(descriptor, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
      }
      if result > 0 {
        offset += result
        written += Int64(result)
        continue
      }
      let failure = errno
      guard result < 0, failure == EAGAIN || failure == EINTR else {
        throw .broken("write to \(peer): \(Errno(rawValue: failure))")
      }
      guard wait(for: Int16(POLLOUT), timeoutMilliseconds: timeoutMilliseconds) else {
        throw .broken("write to \(peer): no room for \(timeoutMilliseconds) ms (the receiver stopped reading)")
      }
    }
  }

  /// Bytes waiting to be read, without waiting; nil when the peer closed the connection.
  func readAvailable() throws(TransportError) -> [UInt8]? {
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16 << 10)
    while true {
      let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
      if count > 0 {
        result += buffer[0..<count]
        continue
      }
      if count == 0 { return result.isEmpty ? nil : result }
      let failure = errno
      if failure == EAGAIN || failure == EINTR { return result }
      throw .broken("read from \(peer): \(Errno(rawValue: failure))")
    }
  }

  /// Bytes the peer's TCP has acknowledged since the connection opened: written minus what the
  /// kernel still holds unacknowledged (SIOCOUTQ).
  func acknowledgedBytes() throws(TransportError) -> Int64 {
    var outstanding: Int32 = 0
    guard fs_socket_unacknowledged_bytes(descriptor, &outstanding) == 0 else {
      throw .broken("SIOCOUTQ on \(peer): \(Errno(rawValue: errno))")
    }
    return written - Int64(outstanding)
  }
}

public enum TransportError: Error, CustomStringConvertible, Equatable {
  /// Could not connect (resolution, refusal, timeout): retried with backoff.
  case unreachable(String)
  /// The connection failed after it was open: reconnect and resend what was not acknowledged.
  case broken(String)
  /// The receiver refused the TLS handshake or its certificate did not verify.
  case tls(String)
  /// The receiver asked to be left alone (HTTP 429, 503), for this long when it said (milliseconds).
  case retryLater(String, Int?)
  /// The output is configured so that no retry can succeed (a redirect, a header HTTP refuses):
  /// delivery stops until it is configured again; its records stay in the spool.
  case misconfigured(String)

  public var description: String {
    switch self {
    case .unreachable(let text), .broken(let text), .misconfigured(let text): return text
    case .retryLater(let text, let milliseconds):
      return text + (milliseconds.map { " (retry after \($0) ms)" } ?? "")
    case .tls(let text): return "TLS: \(text)"
    }
  }
}

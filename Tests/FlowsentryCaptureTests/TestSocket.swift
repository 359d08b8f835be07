import FlowsentryCore
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Just enough of the socket API to make TCP connections behave exactly as a test needs.
final class TestSocket {
  enum Family {
    case v4, v6
    var loopback: String { self == .v4 ? "127.0.0.1" : "::1" }
    var domain: Int32 { self == .v4 ? AF_INET : AF_INET6 }
  }

  let descriptor: Int32
  let family: Family
  /// The name of the thread that created the socket: what the kernel records as its owner's comm.
  let creatorCommand: String
  private var closed = false

  init(_ family: Family) throws {
    self.family = family
    descriptor = socket(family.domain, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard descriptor >= 0 else { throw SocketError("socket", errno) }
    creatorCommand = ((try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "")
      .trimmingCharacters(in: .newlines)
    var one: Int32 = 1
    setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
  }

  private init(accepted: Int32, family: Family, creatorCommand: String) {
    descriptor = accepted
    self.family = family
    self.creatorCommand = creatorCommand
  }

  deinit { close() }

  func bind(_ host: String, port: UInt16 = 0) throws {
    try withSocketAddress(host, port) { address, length in
      guard Glibc.bind(descriptor, address, length) == 0 else { throw SocketError("bind \(host):\(port)", errno) }
    }
  }

  func listen(deferAcceptSeconds: Int32 = 0) throws {
    if deferAcceptSeconds > 0 {
      var seconds = deferAcceptSeconds
      setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_DEFER_ACCEPT, &seconds, socklen_t(MemoryLayout<Int32>.size))
    }
    guard Glibc.listen(descriptor, 128) == 0 else { throw SocketError("listen", errno) }
  }

  /// Connects; returns 0 or the errno (ECONNREFUSED for a refused attempt).
  @discardableResult
  func connect(to endpoint: Endpoint) throws -> Int32 {
    try withSocketAddress(endpoint.address.description, endpoint.port) { address, length in
      Glibc.connect(descriptor, address, length) == 0 ? 0 : errno
    }
  }

  /// Waits at most `timeoutMilliseconds` for a connection: a peer that never comes (a test host
  /// set up wrong, another run's host on the same addresses) fails the test instead of hanging it
  /// on a thread of the cooperative pool.
  func accept(timeoutMilliseconds: Int32 = 10_000) throws -> TestSocket {
    var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
    let ready = poll(&waiting, 1, timeoutMilliseconds)
    guard ready > 0 else {
      throw SocketError("accept: no connection within \(timeoutMilliseconds) ms", ready == 0 ? ETIMEDOUT : errno)
    }
    let accepted = Glibc.accept(descriptor, nil, nil)
    guard accepted >= 0 else { throw SocketError("accept", errno) }
    return TestSocket(accepted: accepted, family: family, creatorCommand: creatorCommand)
  }

  var localEndpoint: Endpoint {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    withUnsafeMutablePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(descriptor, $0, &length) }
    }
    return Self.endpoint(from: storage)
  }

  /// Makes close() send RST instead of FIN.
  func setReusePort() {
    var one: Int32 = 1
    setsockopt(descriptor, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
  }

  func setLingerZero() {
    var option = linger(l_onoff: 1, l_linger: 0)
    setsockopt(descriptor, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
  }

  func send(_ text: String) throws {
    let bytes = Array(text.utf8)
    guard Glibc.send(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else {
      throw SocketError("send", errno)
    }
  }

  /// Reads until the peer's FIN (or RST).
  func readToEnd() {
    var buffer = [UInt8](repeating: 0, count: 4096)
    while recv(descriptor, &buffer, buffer.count, 0) > 0 {}
  }

  /// A connection attempt from a socket made in `cgroup` to a loopback port nothing listens on:
  /// refused. Returns the port asked (`nobody`) and the asking socket's endpoint.
  static func refusedAttempt(_ family: Family, from cgroup: TestCgroup) throws -> (nobody: Endpoint, asking: Endpoint) {
    let closedPort = try TestSocket(family)
    try closedPort.bind(family.loopback)
    let nobody = closedPort.localEndpoint
    closedPort.close()
    let refused = try cgroup.withMembership { try TestSocket(family) }
    try refused.bind(family.loopback)
    let asking = refused.localEndpoint
    guard try refused.connect(to: nobody) == ECONNREFUSED else { throw SocketError("refused connect", 0) }
    refused.close()
    return (nobody, asking)
  }

  /// One complete connection to this listener from a client made in `cgroup` (of `clientFamily`,
  /// to that family's loopback address, when the listener is a dual-stack wildcard one): the client
  /// closes first, the accepted end reads to the end and closes. Returns both ends as dialled.
  @discardableResult
  func acceptOneConnection(from cgroup: TestCgroup, clientFamily: Family? = nil) throws -> (
    client: Endpoint, server: Endpoint
  ) {
    var server = localEndpoint
    if let clientFamily {
      server = Endpoint(try requireValue(IPAddress(clientFamily.loopback), "loopback"), server.port)
    }
    let client = try cgroup.withMembership { try TestSocket(clientFamily ?? family) }
    guard try client.connect(to: server) == 0 else { throw SocketError("connect", ECONNREFUSED) }
    let accepted = try accept()
    let endpoint = client.localEndpoint
    client.close()
    accepted.readToEnd()
    accepted.close()
    return (endpoint, server)
  }

  func close() {
    guard !closed else { return }
    closed = true
    Glibc.close(descriptor)
  }

  private func withSocketAddress<T>(
    _ host: String, _ port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> T
  ) throws -> T {
    if family == .v4 {
      var address = sockaddr_in()
      address.sin_family = sa_family_t(AF_INET)
      address.sin_port = port.bigEndian
      guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw SocketError("address \(host)", EINVAL) }
      return try withUnsafePointer(to: &address) {
        try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          try body($0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
    }
    var address = sockaddr_in6()
    address.sin6_family = sa_family_t(AF_INET6)
    address.sin6_port = port.bigEndian
    guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else { throw SocketError("address \(host)", EINVAL) }
    return try withUnsafePointer(to: &address) {
      try $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        try body($0, socklen_t(MemoryLayout<sockaddr_in6>.size))
      }
    }
  }

  private static func endpoint(from storage: sockaddr_storage) -> Endpoint {
    let family = storage.ss_family
    return withUnsafeBytes(of: storage) { raw in
      if family == sa_family_t(AF_INET) {
        let address = raw.load(as: sockaddr_in.self)
        let bytes = withUnsafeBytes(of: address.sin_addr) { Array($0) }
        return Endpoint(IPAddress(bytes: bytes)!, UInt16(bigEndian: address.sin_port))
      }
      let address = raw.load(as: sockaddr_in6.self)
      let bytes = withUnsafeBytes(of: address.sin6_addr) { Array($0) }
      return Endpoint(IPAddress(bytes: bytes)!, UInt16(bigEndian: address.sin6_port))
    }
  }
}

struct SocketError: Error, CustomStringConvertible {
  var description: String
  init(_ what: String, _ code: Int32) { description = "\(what): \(String(cString: strerror(code)))" }
}

/// Runs `body` with the calling thread renamed: the kernel records the name (comm) of the thread
/// that calls connect(2) or listen(2) as the socket's process.
func withThreadName<T>(_ name: String, _ body: () throws -> T) throws -> T {
  let path = "/proc/thread-self/comm"
  let previous = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .newlines)
  try name.write(toFile: path, atomically: false, encoding: .utf8)
  defer { try? previous.write(toFile: path, atomically: false, encoding: .utf8) }
  return try body()
}

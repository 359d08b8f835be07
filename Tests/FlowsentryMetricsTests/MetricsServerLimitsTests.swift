import FlowsentryCore
import Testing

@testable import FlowsentryMetrics

#if canImport(Glibc)
  import Glibc
#endif

/// The /metrics server's bounds, tried as a careless or hostile client would on loopback: more
/// connections than allowed, a connection that says nothing, headers sent a byte at a time.
@Suite(.serialized) struct MetricsServerLimitsTests {
  let exporter = MetricsExporter { [.counter("flowsentry_records_total", 7, help: "Records.")] }

  func server(_ configure: (inout MetricsServer.Limits) -> Void) async throws -> MetricsServer {
    var limits = MetricsServer.Limits()
    configure(&limits)
    return try await MetricsServer(host: "127.0.0.1", port: 0, exporter: exporter, limits: limits)
  }

  @Test func connectionsBeyondTheCapAreClosedAndCounted() async throws {
    let server = try await server { $0.maximumConnections = 2 }
    defer { Task { await server.stop() } }
    let first = try LoopbackClient(port: server.port)
    let second = try LoopbackClient(port: server.port)
    let third = try LoopbackClient(port: server.port)
    #expect(third.readUntilClosed(timeoutSeconds: 5), "the connection beyond the cap stayed open")
    #expect(server.counters.refused.load(ordering: .relaxed) == 1)
    // Those within the cap are served.
    #expect(try first.get("/metrics").contains("flowsentry_records_total 7.0"))
    #expect(try second.get("/metrics").hasPrefix("HTTP/1.1 200"))
    first.close()
    second.close()
    // Closed connections free their places.
    try await eventually { server.counters.open.load(ordering: .relaxed) == 0 }
    let fourth = try LoopbackClient(port: server.port)
    #expect(try fourth.get("/metrics").hasPrefix("HTTP/1.1 200"))
    let closed = server.counters.samples.filter { $0.name == "flowsentry_metrics_connections_closed_total" }
    #expect(closed.map(\.labels.first?.1) == ["over_limit", "idle", "request_head_timeout"])
  }

  @Test func aSilentConnectionIsClosedWhenIdle() async throws {
    let server = try await server {
      $0.idleTimeout = .milliseconds(200)
      $0.requestHeadTimeout = .seconds(30)
    }
    defer { Task { await server.stop() } }
    let client = try LoopbackClient(port: server.port)
    #expect(client.readUntilClosed(timeoutSeconds: 5), "an idle connection stayed open")
    #expect(server.counters.idleClosed.load(ordering: .relaxed) == 1)
    #expect(server.counters.headTimeouts.load(ordering: .relaxed) == 0)
  }

  @Test func headersSentAByteAtATimeMeetTheHeadTimeout() async throws {
    let server = try await server {
      $0.idleTimeout = .seconds(30)
      $0.requestHeadTimeout = .milliseconds(300)
    }
    defer { Task { await server.stop() } }
    let client = try LoopbackClient(port: server.port)
    try client.send("GET /metrics HTTP/1.1\r\nHost: x\r\n")
    // Always something arriving, so it never idles; the head never completes.
    var closed = false
    for _ in 0..<50 where !closed {
      try? client.send("X")
      closed = client.readUntilClosed(timeoutSeconds: 0.1)
    }
    #expect(closed, "a request head trickling in kept its connection open")
    #expect(server.counters.headTimeouts.load(ordering: .relaxed) == 1)
    #expect(server.counters.idleClosed.load(ordering: .relaxed) == 0)
  }

  @Test func aKeptAliveConnectionIsServedAgainWithinTheLimits() async throws {
    let server = try await server { $0.requestHeadTimeout = .milliseconds(500) }
    defer { Task { await server.stop() } }
    let client = try LoopbackClient(port: server.port)
    for _ in 0..<3 {
      #expect(try client.get("/metrics").contains("flowsentry_records_total 7.0"))
      try await Task.sleep(for: .milliseconds(200))
    }
    #expect(server.counters.headTimeouts.load(ordering: .relaxed) == 0)
    // Then silent past the head timeout: closed.
    #expect(client.readUntilClosed(timeoutSeconds: 5))
    #expect(server.counters.headTimeouts.load(ordering: .relaxed) == 1)
  }

  func eventually(_ condition: () -> Bool) async throws {
    for _ in 0..<250 where !condition() { try await Task.sleep(for: .milliseconds(20)) }
    #expect(condition())
  }
}

/// A blocking TCP client on 127.0.0.1, with receive timeouts so that no test can hang on it.
final class LoopbackClient {
  struct Failure: Error { var call: String }
  private let descriptor: Int32

  init(port: Int) throws {
    descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw Failure(call: "socket") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard connected == 0 else {
      Glibc.close(descriptor)
      throw Failure(call: "connect")
    }
  }

  deinit { Glibc.close(descriptor) }

  func close() { shutdown(descriptor, Int32(SHUT_RDWR)) }

  func send(_ text: String) throws {
    let bytes = Array(text.utf8)
    guard Glibc.send(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else {
      throw Failure(call: "send")
    }
  }

  /// GET `path` and the whole response (read up to its Content-Length).
  func get(_ path: String) throws -> String {
    try send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    setTimeout(seconds: 5)
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
      let count = recv(descriptor, &buffer, buffer.count, 0)
      guard count > 0 else { throw Failure(call: "recv") }
      response += buffer[..<count]
      let text = String(decoding: response, as: UTF8.self)
      if let end = text.range(of: "\r\n\r\n"),
        let lengthLine = text[..<end.lowerBound].split(separator: "\r\n").first(where: {
          $0.lowercased().hasPrefix("content-length:")
        }),
        let length = Int(lengthLine.dropFirst("content-length:".count).filter { $0 != " " }),
        text.utf8.count - text.utf8.distance(from: text.startIndex, to: end.upperBound) >= length
      {
        return text
      }
    }
  }

  /// Whether the peer closes the connection within the timeout (what it sends before is read).
  func readUntilClosed(timeoutSeconds: Double) -> Bool {
    setTimeout(seconds: timeoutSeconds)
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let count = recv(descriptor, &buffer, buffer.count, 0)
      if count == 0 { return true }
      if count < 0 { return errno == ECONNRESET }
    }
  }

  private func setTimeout(seconds: Double) {
    var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
    let result = setsockopt(
      descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    precondition(result == 0, "setsockopt(SO_RCVTIMEO) failed")
  }
}

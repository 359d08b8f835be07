import FlowsentryCore
import FlowsentryForwarding
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules
import FlowsentrySpool
import Foundation
import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// A receiver on loopback, one thread per connection running `serve` on it: the benchmark's
/// stand-ins for a SIEM, cheap enough that the figures are the sender's.
final class LoopbackReceiver: @unchecked Sendable {
  let port: UInt16

  init(serve: @escaping @Sendable (Int32) -> Void) {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        _ = bind(listener, $0, length)
        _ = getsockname(listener, $0, &length)
      }
    }
    _ = listen(listener, 16)
    port = UInt16(bigEndian: address.sin_port)
    Thread {
      while true {
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { return }
        Thread {
          serve(connection)
          close(connection)
        }.start()
      }
    }.start()
  }

  /// Reads and discards everything (a syslog receiver over TCP).
  static func discard(_ connection: Int32) {
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while buffer.withUnsafeMutableBytes({ read(connection, $0.baseAddress, $0.count) }) > 0 {}
  }

  /// Answers 200 to every HTTP/1.1 request, keeping the connection alive.
  static func answerHTTP(_ connection: Int32) {
    var pending: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    let answer = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".utf8)
    while true {
      let count = buffer.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
      guard count > 0 else { return }
      pending += buffer[0..<count]
      while let end = pending.firstRange(of: Array("\r\n\r\n".utf8)) {
        let head = String(decoding: pending[..<end.lowerBound], as: UTF8.self).lowercased()
        let length =
          head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
          .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        guard pending.count >= end.upperBound + length else { break }
        pending.removeFirst(end.upperBound + length)
        _ = answer.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
      }
    }
  }

  /// Answers `200 OK` to every RELP frame (rsyslog's imrelp would also parse and store).
  static func answerRELP(_ connection: Int32) {
    var pending: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let count = buffer.withUnsafeMutableBytes { read(connection, $0.baseAddress, $0.count) }
      guard count > 0 else { return }
      pending += buffer[0..<count]
      var answers: [UInt8] = []
      var start = 0
      while true {
        // TXNR SP COMMAND SP DATALEN [SP DATA] LF
        let spaces = pending[start...].indices.lazy.filter { pending[$0] == UInt8(ascii: " ") }.prefix(2)
        guard spaces.count == 2, let second = spaces.last, let first = spaces.first else { break }
        guard
          let lengthEnd = pending[(second + 1)...].firstIndex(where: {
            $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n")
          })
        else { break }
        let length = Int(String(decoding: pending[(second + 1)..<lengthEnd], as: UTF8.self)) ?? 0
        let end = lengthEnd + (length > 0 ? 1 + length : 0)
        guard end < pending.count else { break }
        let transaction = String(decoding: pending[start..<first], as: UTF8.self)
        let command = String(decoding: pending[(first + 1)..<second], as: UTF8.self)
        let reply = command == "open" ? "200 OK\nrelp_version=0\ncommands=syslog" : "200 OK"
        answers += Array("\(transaction) rsp \(reply.utf8.count) \(reply)\n".utf8)
        start = end + 1
      }
      pending.removeFirst(start)
      if !answers.isEmpty { _ = answers.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) } }
    }
  }
}

/// Spool appends, alerts delivered over TCP syslog, and detection with an output's receiver down
/// against up, side by side in one run.
func forwardingBenchmarks(records: [CapturedRecord], rulesDirectory: String) {
  let root = FileManager.default.temporaryDirectory.appendingPathComponent("flowsentry-bench-spool-\(getpid())").path
  defer { try? FileManager.default.removeItem(atPath: root) }
  let context = EventJSON.Context(hostName: "bench-host")
  let alert = Alert(
    id: "0123456789abcdef", timestamp: 1_700_000_000_000_000_000, ruleID: "FS-NET-003", ruleName: "Bench rule",
    severity: .high, tags: ["T1046"], message: "a benchmark alert", group: [(field: "remote", value: "198.51.100.7")],
    count: 1, windowNanoseconds: nil, suppressed: 0,
    events: [
      .flow(
        FlowEvent(
          name: .netFlowTCPBegin, timestamp: 1_700_000_000_000_000_000, direction: .outgoing,
          source: Endpoint(.v4(0x0a00_0001), 40_000), destination: Endpoint(.v4(0xc633_6407), 443)))
    ], eventsLeftOut: 0)
  var body: [UInt8] = []
  AlertJSON.append(alert, context: context, to: &body)
  let message = SyslogMessage(hostName: "bench-host", processID: getpid()).message(for: alert, body: body)

  do {
    var configuration = Spool.Configuration()
    configuration.maximumBytes = 1 << 30
    let spool = try Spool(directory: FilePath(root + "/appends"), configuration: configuration)
    let count = 200_000
    let start = nanoseconds()
    for _ in 0..<count { spool.append(message, rank: 4, now: 0) }
    spool.sync()
    let seconds = Double(nanoseconds() - start) / 1e9
    print(
      "spool appends: \(rate(count, seconds)) records/s (\(message.count)-byte alerts, "
        + "\(String(format: "%.0f", Double(count * message.count) / seconds / 1e6)) MB/s, one fsync at the end)")
  } catch {
    print("spool benchmark: \(error)")
  }

  let receiver = LoopbackReceiver(serve: LoopbackReceiver.discard)
  func output(_ name: String, port: UInt16, events: Set<EventName> = []) throws -> ForwardingOutput {
    var configuration = OutputConfiguration(name: name, kind: .syslogTCP, host: "127.0.0.1", port: port)
    configuration.events = events
    configuration.queueCapacity = 1 << 20
    configuration.drainTimeoutMilliseconds = 100
    return try ForwardingOutput(
      configuration: configuration, spoolDirectory: FilePath(root + "/" + name), log: { _ in })
  }

  /// Alerts per second from the router's hand-off until the receiver accepted the last one.
  func delivered(_ count: Int, _ configuration: OutputConfiguration) throws -> String {
    var configuration = configuration
    configuration.queueCapacity = 1 << 20
    configuration.drainTimeoutMilliseconds = 100
    let forwarding = try ForwardingOutput(
      configuration: configuration, spoolDirectory: FilePath(root + "/" + configuration.name), log: { _ in })
    forwarding.start()
    defer { forwarding.stop() }
    let router = OutputRouter(outputs: [forwarding], context: context, processID: getpid())
    let start = nanoseconds()
    for _ in 0..<count { router.receive(alert) }
    while forwarding.counters.delivered < count { usleep(1_000) }
    return rate(count, Double(nanoseconds() - start) / 1e9)
  }

  do {
    let tcp = OutputConfiguration(name: "delivery", kind: .syslogTCP, host: "127.0.0.1", port: receiver.port)
    print(
      "alerts delivered over TCP syslog (loopback receiver, acknowledged by its TCP): \(try delivered(200_000, tcp)) "
        + "alerts/s (\(message.count + 5)-byte frames, encoded, spooled, sent, committed)")
    let relpReceiver = LoopbackReceiver(serve: LoopbackReceiver.answerRELP)
    let relp = OutputConfiguration(name: "relp", kind: .relp, host: "127.0.0.1", port: relpReceiver.port)
    print(
      "alerts delivered over RELP (loopback receiver answering each one): \(try delivered(200_000, relp)) alerts/s")
    let httpReceiver = LoopbackReceiver(serve: LoopbackReceiver.answerHTTP)
    var http = OutputConfiguration(name: "webhook", kind: .http, host: "127.0.0.1", port: httpReceiver.port)
    http.http.path = "/hook"
    http.batchRecords = 500
    print(
      "alerts delivered over HTTP (webhook, loopback receiver answering 200, batches of 500): "
        + "\(try delivered(100_000, http)) alerts/s")
  } catch {
    print("delivery benchmark: \(error)")
  }

  // Detection with flow logs forwarded: every flow event to one output, its receiver up, then down.
  // Bound and never listening: every connection attempt is refused, as by a host whose SIEM is down.
  let refusing = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  defer { close(refusing) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  withUnsafeMutablePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      _ = bind(refusing, $0, length)
      _ = getsockname(refusing, $0, &length)
    }
  }
  let downPort = UInt16(bigEndian: address.sin_port)
  do {
    var results: [String] = []
    for (label, port) in [("receiver up", receiver.port), ("receiver down", downPort)] {
      let forwarding = try output(
        "detection-\(label.replacingOccurrences(of: " ", with: "-"))", port: port,
        events: [.netFlowTCPBegin, .netFlowTCPEnd])
      forwarding.start()
      let pipeline = Pipeline(rules: try RuleLoader.load(paths: [rulesDirectory]))
      let router = OutputRouter(outputs: [forwarding], context: context, processID: getpid())
      let start = nanoseconds()
      for record in records { pipeline.process(record, to: router) }
      let seconds = Double(nanoseconds() - start) / 1e9
      let counters = forwarding.counters
      forwarding.stop()
      results.append(
        "\(label) \(rate(records.count, seconds)) records/s (queue drops \(counters.queueDropped))")
    }
    print("whole pipeline with every flow event forwarded over TCP syslog: " + results.joined(separator: ", "))
  } catch {
    print("detection benchmark: \(error)")
  }
}

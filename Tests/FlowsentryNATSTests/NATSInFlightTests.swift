import FlowsentryCore
import FlowsentryForwarding
import FlowsentryNATS
import FlowsentryOutput
import FlowsentryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `max_in_flight` against a server that stops answering (SIGSTOP: the connection stays up, no
/// acknowledgement comes): the output publishes at most `max_in_flight` plus one batch less one,
/// the rest waits in the spool, and everything is delivered once the server answers again.
@Suite(.serialized) struct NATSInFlightTests {
  @Test func publishesInFlightStayBoundedWhileTheServerDoesNotAnswer() throws {
    try TestEnvironment.require(.natsServer)
    let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("fs-nats-\(UUID().uuidString).pid")
    defer { try? FileManager.default.removeItem(at: pidFile) }
    var settings = NATSServer.Settings()
    settings.extra = "pid_file: \"\(pidFile.path)\""
    let server = try NATSServer(settings)
    let admin = try NATSOutputTests.management(server)
    try admin.addStream(JetStreamStreamSettings(name: "FLEET", subjects: ["fleet.>"]))
    guard
      let text = try? String(contentsOf: pidFile, encoding: .utf8),
      let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
    else {
      Issue.record("nats-server wrote no pid file")
      return
    }

    let maximumInFlight = 40
    let batch = 10
    let bound = UInt64(maximumInFlight + batch - 1)
    let log = NATSOutputTests.Lines()
    let spool = try NATSOutputTests.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: spool.string) }
    let output = try NATSOutputTests.output(
      "nats://127.0.0.1:\(server.port)?subject=fleet.{host}&max_in_flight=\(maximumInFlight)&batch=\(batch)"
        + "&ack_timeout_ms=60000",
      spool: spool, log: log, drainMilliseconds: 500)
    let router = OutputRouter(outputs: [output], context: EventJSON.Context(hostName: "h1"), processID: 1)
    for index in 0..<5 { router.receive(NATSOutputTests.alert(index)) }
    #expect(eventually(seconds: 10) { output.counters.delivered == 5 }, "\(output.counters) \(log.all)")

    #expect(kill(pid, SIGSTOP) == 0)
    var stopped = true
    defer { if stopped { _ = kill(pid, SIGCONT) } }
    // kill returns once the signal is queued; a server thread running on another CPU acknowledges
    // on until it is descheduled (a dozen messages on a loaded machine): wait until all are stopped.
    #expect(eventually(seconds: 10) { Self.allThreadsStopped(pid) }, "nats-server did not stop")
    for index in 5..<505 { router.receive(NATSOutputTests.alert(index)) }
    // Sampled while the window fills and for a second after: never past the bound.
    var highest: UInt64 = 0
    let deadline = Date().addingTimeInterval(10)
    var filledAt: Date?
    while Date() < deadline {
      let counters = output.counters
      let inFlight = (counters.nats?.published ?? 0) - (counters.nats?.acknowledged ?? 0)
      highest = max(highest, inFlight)
      if filledAt == nil, inFlight >= UInt64(maximumInFlight) { filledAt = Date() }
      if let filledAt, Date().timeIntervalSince(filledAt) > 1 { break }
      usleep(10_000)
    }
    let counters = output.counters
    #expect(highest >= UInt64(maximumInFlight), "the window never filled: \(String(describing: counters.nats))")
    #expect(highest <= bound, "\(highest) in flight, bound \(bound)")
    #expect(counters.delivered == 5)
    #expect(counters.spoolPending == 500, "\(counters)")
    #expect(counters.nats?.errors.values.reduce(0, +) == 0, "\(String(describing: counters.nats))")

    #expect(kill(pid, SIGCONT) == 0)
    stopped = false
    #expect(eventually(seconds: 30) { output.counters.delivered == 505 }, "\(output.counters) \(log.all)")
    output.stop()
    #expect(output.counters.spoolPending == 0)
    #expect(try admin.streamState("FLEET").messages == 505)
  }

  /// Whether every thread of `pid` is stopped (`T` in /proc/PID/task/TID/stat).
  static func allThreadsStopped(_ pid: pid_t) -> Bool {
    guard let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"), !threads.isEmpty
    else { return false }
    return threads.allSatisfy { thread in
      guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/stat", encoding: .utf8),
        let afterName = stat.range(of: ") ", options: .backwards)
      else { return false }
      return stat[afterName.upperBound...].first == "T"
    }
  }
}

import FlowsentryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `flowsentry status` against a metrics endpoint that serves fixed text: the first line names the
/// build when the monitor serves `flowsentry_build_info`, and a monitor older than that row is read
/// as before. Needs no root: nothing is captured.
@Suite(.serialized) struct StatusHeadlineTests {
  /// Answers one `GET` on a loopback port with `metrics`, on a thread of its own (the test waits for
  /// `status` blocking).
  final class FixedEndpoint: @unchecked Sendable {
    let listener: TestSocket
    let port: UInt16
    private let served: Thread

    init(_ metrics: String) throws {
      listener = try TestSocket(.v4)
      try listener.bind("127.0.0.1")
      try listener.listen()
      port = listener.localEndpoint.port
      // Only this thread uses the socket until the endpoint is dropped.
      nonisolated(unsafe) let accepting = listener
      served = Thread {
        guard let connection = try? accepting.accept() else { return }
        Self.readRequest(connection.descriptor)
        try? connection.send(
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(metrics.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + metrics)
        connection.close()
      }
      served.start()
    }

    /// Up to the blank line that ends a GET's head (it has no body).
    private static func readRequest(_ descriptor: Int32) {
      var request: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: 4096)
      while !request.suffix(4).elementsEqual("\r\n\r\n".utf8) {
        let read = recv(descriptor, &buffer, buffer.count, 0)
        guard read > 0 else { return }
        request += buffer[..<read]
      }
    }
  }

  /// A monitor's rows as an older build serves them: no `flowsentry_build_info`.
  static func olderRows(now: Double) -> String {
    """
    # TYPE process_start_time_seconds gauge
    process_start_time_seconds \(now - 7_500)
    # TYPE flowsentry_rules_loaded_timestamp_seconds gauge
    flowsentry_rules_loaded_timestamp_seconds \(now - 185)
    # TYPE flowsentry_rule_reload_failures_total counter
    flowsentry_rule_reload_failures_total{cause="signal"} 0
    flowsentry_rule_reload_failures_total{cause="feed_change"} 0
    # TYPE flowsentry_records_total counter
    flowsentry_records_total 8

    """
  }

  static func status(of metrics: String) throws -> (address: String, lines: [String]) {
    let endpoint = try FixedEndpoint(metrics)
    let address = "127.0.0.1:\(endpoint.port)"
    let output = try run(MonitorProcess.binary, ["status", "--metrics-address", address])
    return (address, output.split(separator: "\n").map(String.init))
  }

  @Test func theHeadlineNamesTheBuildAndLeavesItsRowOutOfTheTable() throws {
    let rows =
      Self.olderRows(now: Double(time(nil)))
      + "# TYPE flowsentry_build_info gauge\nflowsentry_build_info{version=\"9.8.7\",event_schema=\"1\"} 1.0\n"
    let (address, lines) = try Self.status(of: rows)
    let headline = try #require(lines.first)
    #expect(headline.hasPrefix("flowsentry 9.8.7 at \(address): up 2h 5m; rules loaded 3m "), "\(lines)")
    #expect(headline.hasSuffix(" ago; no reload refused"), "\(lines)")
    #expect(lines.contains("records=8"), "\(lines)")
    #expect(!lines.contains { $0.hasPrefix("build_info") }, "\(lines)")
  }

  @Test func aMonitorWithoutTheBuildRowIsReadAsBefore() throws {
    let (address, lines) = try Self.status(of: Self.olderRows(now: Double(time(nil))))
    let headline = try #require(lines.first)
    #expect(headline.hasPrefix("flowsentry at \(address): up 2h 5m; rules loaded 3m "), "\(lines)")
    #expect(headline.hasSuffix(" ago; no reload refused"), "\(lines)")
    #expect(lines.contains("records=8"), "\(lines)")
  }

  /// With 5,000 rules `/metrics` holds a row per rule and family, nearly all zero: `status` leaves
  /// those out as the exit record does, and shows a family's 20 largest rows and a count of the rest,
  /// while other labelled families keep their zero rows.
  @Test func perRuleZeroRowsAreLeftOutAndAFamilyIsCapped() throws {
    var rows = Self.olderRows(now: Double(time(nil)))
    rows += "flowsentry_drops_total{where=\"queue\"} 0\nflowsentry_drops_total{where=\"ring_buffer\"} 0\n"
    for index in 0..<5_000 {
      let id = String(format: "GEN-%05d", index)
      // The first 30 rules alerted (30 down to 1 times); a limit stopped no regex of any.
      rows += "flowsentry_alerts_total{rule=\"\(id)\"} \(index < 30 ? 30 - index : 0)\n"
      rows += "flowsentry_regex_limit_hits_total{rule=\"\(id)\"} 0\n"
    }
    let (_, lines) = try Self.status(of: rows)
    let alerts = try #require(lines.first { $0.hasPrefix("alerts{") })
    let shown = (0..<20).map { String(format: "GEN-%05d=%d", $0, 30 - $0) }.joined(separator: " ")
    #expect(alerts == "alerts{\(shown) … and 10 more=55}", "\(alerts)")
    #expect(lines.contains("regex_limit_hits{}"), "\(lines)")
    #expect(lines.contains("drops{queue=0 ring_buffer=0}"), "\(lines)")
    #expect(lines.allSatisfy { $0.count < 1_000 }, "\(lines.map(\.count).max() ?? 0)")
  }
}

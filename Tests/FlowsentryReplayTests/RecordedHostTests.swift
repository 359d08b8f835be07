import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules
import FlowsentryTestSupport
import Foundation
import Testing

extension RecordingInputTests {
  /// A recording's alert names the sensor that recorded its event, with the id that sensor gave
  /// it live (the id hashes the host); `--host` still names another.
  @Test func aRecordedAlertNamesItsSensorWithTheLiveId() throws {
    let directory = try temporaryDirectory("rec-host")
    defer { try? FileManager.default.removeItem(at: directory) }
    let rules = directory.appendingPathComponent("rules.yaml").path
    try """
    - rule:
        id: LIVE-ID
        name: a connection to port 443
        events: [net_flow_tcp_begin]
        condition: dst_port == 443

    """.write(toFile: rules, atomically: true, encoding: .utf8)
    let line = Self.line(1, host: "web-17")
    let path = directory.appendingPathComponent("web17.rec").path
    try write(Array((line + "\n").utf8), path)

    // The live sensor web-17: its pipeline names the event and the alert.
    var configuration = Pipeline.Configuration()
    configuration.host = "web-17"
    let live = Pipeline(configuration: configuration, rules: try RuleLoader.load(paths: [rules]))
    guard case .event(let event) = EventJSONReader.read(line) else {
      Issue.record("the line did not read")
      return
    }
    let sink = InMemoryEventSink()
    live.rerun(event.withHost(""), to: sink)
    let liveID = try #require(sink.alerts.first { $0.ruleID == "LIVE-ID" }?.id)

    func alert(_ arguments: [String]) throws -> [String: Any]? {
      let result = try replay(["--rules", rules, "--events", "none"] + arguments + [path])
      #expect(result.status == 0, "\(result.stderr)")
      return result.stdout.split(separator: "\n").compactMap {
        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
      }.first { ($0["rule"] as? [String: Any])?["id"] as? String == "LIVE-ID" }
    }
    let replayed = try #require(try alert([]))
    #expect(replayed["host"] as? String == "web-17")
    #expect(replayed["alert_id"] as? String == liveID)
    let renamed = try #require(try alert(["--host", "replayer-9"]))
    #expect(renamed["host"] as? String == "replayer-9")
    #expect(renamed["alert_id"] as? String != liveID)
  }

  /// A recording of more sensors than the replay keeps sinks for (`RecordedHostAlerts.maximumHosts`):
  /// each alert past the bound still names its own sensor and is printed and counted once.
  @Test func alertsOfMoreSensorsThanTheBoundEachNameTheirOwn() throws {
    let directory = try temporaryDirectory("rec-hosts")
    defer { try? FileManager.default.removeItem(at: directory) }
    let rules = directory.appendingPathComponent("rules.yaml").path
    try """
    - rule:
        id: EVERY-HOST
        name: a connection to port 443
        events: [net_flow_tcp_begin]
        condition: dst_port == 443

    """.write(toFile: rules, atomically: true, encoding: .utf8)
    let hosts = 300
    #expect(hosts > 256, "past RecordedHostAlerts.maximumHosts")
    // Each sensor twice, the second time after every other one's first: a host met again past the
    // bound gets a sink again, never another's.
    let lines = (0..<(2 * hosts)).map { Self.line($0, seconds: Int64($0), host: "sensor-\($0 % hosts)") }
    let path = directory.appendingPathComponent("fleet.rec").path
    try write(Array((lines.joined(separator: "\n") + "\n").utf8), path)
    let result = try replay(["--rules", rules, "--events", "none", path])
    #expect(result.status == 0, "\(result.stderr)")
    let alerts = result.stdout.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    #expect(alerts.count == 2 * hosts)
    let named = alerts.compactMap { $0["host"] as? String }
    #expect(named == (0..<(2 * hosts)).map { "sensor-\($0 % hosts)" })
    #expect(Set(alerts.compactMap { $0["alert_id"] as? String }).count == 2 * hosts)
    #expect(result.stderr.contains("printed \(2 * hosts)"), "\(result.stderr)")
  }
}

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
}

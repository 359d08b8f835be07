import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules
import FlowsentryTestSupport
import Testing

/// Alert ids name the sensor: the same events give the same ids on one sensor, other ids on another.
@Suite struct AlertIdentityTests {
  /// Forty spoofed sources leaving handshakes to one local port unfinished (FS-NET-008).
  private func alertIDs(host: String) throws -> [String] {
    var configuration = Pipeline.Configuration()
    configuration.host = host
    let pipeline = Pipeline(configuration: configuration, rules: try RuleLoader.load(paths: [shippedRules]))
    let sink = InMemoryEventSink()
    let local = Endpoint(IPAddress("198.51.100.2")!, 8080)
    for index in 0..<40 {
      pipeline.process(
        .halfOpen(
          HalfOpenObservation(
            timestamp: 4_000 + Int64(index), remote: Endpoint(.v4(0xcb00_7164 + UInt32(index)), 1000), local: local,
            attempts: 1)), to: sink)
    }
    return sink.alerts.map(\.id)
  }

  @Test func idsAreStablePerSensorAndDifferAcrossSensors() throws {
    let first = try alertIDs(host: "sensor-a")
    #expect(!first.isEmpty)
    #expect(first == (try alertIDs(host: "sensor-a")))
    let other = try alertIDs(host: "sensor-b")
    #expect(other.count == first.count)
    #expect(Set(first).isDisjoint(with: other))
    #expect(first.allSatisfy { $0.count == StableIdentifier.length && $0.allSatisfy(\.isHexDigit) })
  }

  @Test func alertsOfAnUngroupedRuleAtTheSameTimeHaveTheirOwnIds() throws {
    let rules = try RuleLoader.load(
      text: """
        - rule:
            id: T-1
            name: every refused connection
            events: [net_flow_tcp_end]
            condition: close_reason == refused
            output: "{remote}"
        """)
    let pipeline = Pipeline(rules: rules)
    let sink = InMemoryEventSink()
    let local = Endpoint(IPAddress("198.51.100.2")!, 40_000)
    for (index, remote) in ["203.0.113.7", "203.0.113.8"].enumerated() {
      let end = FlowEvent(
        name: .netFlowTCPEnd, timestamp: 5_000, direction: .outgoing, source: Endpoint(IPAddress(remote)!, 443),
        destination: local, closeReason: .refused, terminatedBy: .remote, socketCookie: UInt64(index + 1))
      pipeline.rerun(.flow(end), to: sink)
    }
    let ids = sink.alerts.map(\.id)
    #expect(ids.count == 2)
    #expect(Set(ids).count == 2, "two alerts, one id: a receiver deduplicating by id would keep one")
  }

  @Test func theIdIsSHA256OfLengthPrefixedFields() {
    let id = StableIdentifier.alert(
      host: "h", ruleID: "FS-NET-008", group: [(field: "local", value: "198.51.100.2:8080")], firstEventTime: 4_000)
    // Computed independently: sha256 over (u64 length ‖ bytes) of each field, first 16 bytes in hex.
    #expect(id == "e1e1083835f2e953ce73981877e2d426")
    // Fields cannot run into each other: moving a byte across a boundary changes the id.
    #expect(
      StableIdentifier.alert(host: "ab", ruleID: "c", group: [], firstEventTime: 1)
        != StableIdentifier.alert(host: "a", ruleID: "bc", group: [], firstEventTime: 1))
  }

  @Test func eventIdsFollowTheSensorAndTheBody() {
    let body = Array(#"{"type":"net_flow_tcp_begin","time":"2026-12-06T04:00:00Z"}"#.utf8)
    let id = StableIdentifier.event(host: "a", name: "net_flow_tcp_begin", body: body)
    #expect(id == StableIdentifier.event(host: "a", name: "net_flow_tcp_begin", body: body))
    #expect(id != StableIdentifier.event(host: "b", name: "net_flow_tcp_begin", body: body))
    #expect(id != StableIdentifier.event(host: "a", name: "net_flow_tcp_begin", body: body + [0x20]))
    #expect(id.count == StableIdentifier.length)
  }
}

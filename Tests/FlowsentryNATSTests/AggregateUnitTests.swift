import FlowsentryAggregate
import FlowsentryCore
import FlowsentryOutput
import FlowsentryRules
import Foundation
import Testing

@Suite struct AggregateInputTests {
  @Test func parsesServersPartitionsAndBounds() throws {
    let input = try AggregateInput.parse(
      "nats://n1:4222,[::1]:4223,n3?stream=FLEET&consumer=agg&partitions=4&subject=fleet.part.{partition}.>"
        + "&ack_wait_ms=5000&max_ack_pending=1000&lateness_ms=2000&creds_file=/etc/a.creds")
    #expect(input.servers == ["nats://n1:4222", "nats://[::1]:4223", "nats://n3:4222"])
    #expect(input.stream == "FLEET" && input.consumer == "agg" && input.partitions == 4)
    #expect(input.filterSubject(partition: 3) == "fleet.part.3.>")
    #expect(input.durableName(partition: 2) == "agg-p2")
    #expect(input.acknowledgementWaitMilliseconds == 5000 && input.maximumAcknowledgementsPending == 1000)
    #expect(input.latenessMilliseconds == 2000)
    #expect(input.credentials == .credentialsFile("/etc/a.creds"))
  }

  @Test func refusesWhatCannotWork() {
    for (spec, reason) in [
      ("nats://h:1?consumer=a", "stream=NAME and consumer=NAME"),
      ("nats://h:1?stream=a.b&consumer=c", "letters, digits"),
      ("nats://h:0?stream=a&consumer=c", "port '0'"),
      ("nats://:1?stream=a&consumer=c", "no host"),
      ("nats://u:p@h:1?stream=a&consumer=c", "credentials in the URL"),
      ("nats://h:1?stream=a&consumer=c&partitions=4&subject=fleet.>", "{partition}"),
      ("nats://h:1?stream=a&consumer=c&ack_wait_ms=10", "ack_wait_ms takes"),
      ("nats://h:1?stream=a&consumer=c&token_file=/t&creds_file=/c", "one kind of credentials"),
      ("nats://h:1?stream=a&consumer=c&what=1", "unknown key"),
      ("http://h:1?stream=a&consumer=c", "nats://"),
    ] {
      #expect(throws: AggregateInputError.self, "\(spec)") { try AggregateInput.parse(spec) }
      do {
        _ = try AggregateInput.parse(spec)
      } catch {
        #expect(error.description.contains(reason), "\(spec): \(error)")
      }
    }
  }

  @Test func instancesShareThePartitionsOnce() throws {
    let layouts = try (0..<3).map { try PartitionLayout(partitions: 8, instance: $0, instances: 3) }
    #expect(layouts[0].owned == [0, 3, 6])
    #expect(layouts.flatMap(\.owned).sorted() == Array(0..<8))
    #expect(throws: PartitionLayoutError.self) { try PartitionLayout(partitions: 2, instance: 0, instances: 3) }
    #expect(throws: PartitionLayoutError.self) { try PartitionLayout(partitions: 4, instance: 2, instances: 2) }
  }
}

@Suite struct HostAndPortTests {
  @Test func oneParserForEveryAddress() throws {
    #expect(try HostAndPort.parse(authority: "n1", defaultPort: 4222) == ("n1", 4222))
    #expect(try HostAndPort.parse(authority: "[2001:db8::1]:9", defaultPort: nil) == ("2001:db8::1", 9))
    #expect(HostAndPort.parse("127.0.0.1:0")! == ("127.0.0.1", 0))
    #expect(HostAndPort.parse("h") == nil)
    #expect(throws: HostAndPort.ParseError.self) { try HostAndPort.parse(authority: "h:0", defaultPort: 1) }
    #expect(throws: HostAndPort.ParseError.self) { try HostAndPort.parse(authority: "[::1", defaultPort: 1) }
    #expect(throws: HostAndPort.ParseError.self) { try HostAndPort.parse(authority: "[::1]x", defaultPort: 1) }
    #expect(throws: HostAndPort.ParseError.self) { try HostAndPort.parse(authority: ":5", defaultPort: 1) }
  }

  @Test func sensorNamesAreCheckedOneWay() {
    #expect(SensorIdentity.problem("web-1.lab") == nil)
    for bad in ["", "a b", "a\u{7F}", "tab\there", String(repeating: "x", count: 254)] {
      #expect(SensorIdentity.problem(bad) != nil, "\(bad)")
    }
  }
}

@Suite struct AcknowledgementHoldTests {
  let second: Int64 = 1_000_000_000

  @Test func releasesAnEventOnceItLeftEveryWindow() {
    var hold = AcknowledgementHold<Int>(windowNanoseconds: 60 * second, latenessNanoseconds: 10 * second, capacity: 100)
    #expect(hold.hold(1, at: 0, sequence: 1).isEmpty)
    #expect(hold.hold(2, at: 30 * second, sequence: 2).isEmpty)
    // 70 s: event 1 is exactly window + lateness old; it could still share a window with a late event.
    #expect(hold.hold(3, at: 70 * second, sequence: 3).isEmpty)
    #expect(hold.hold(4, at: 70 * second + 1, sequence: 4) == [1])
    #expect(hold.hold(5, at: 200 * second, sequence: 5).sorted() == [2, 3, 4])
    #expect(hold.counters.held == 1 && hold.counters.released == 4)
  }

  @Test func lateEventsAndAFullHoldAreCounted() {
    var hold = AcknowledgementHold<Int>(windowNanoseconds: 60 * second, latenessNanoseconds: 10 * second, capacity: 2)
    _ = hold.hold(1, at: 100 * second, sequence: 1)
    #expect(hold.isLate(89 * second))
    #expect(!hold.isLate(90 * second))
    _ = hold.hold(2, at: 95 * second, sequence: 2)
    #expect(hold.hold(3, at: 101 * second, sequence: 3) == [2])
    #expect(hold.counters.forced == 1)
  }

  @Test func aRestartedInstanceReleasesNothingWhileRedeliveriesMayCome() {
    var hold = AcknowledgementHold<Int>(windowNanoseconds: 60 * second, latenessNanoseconds: 0, capacity: 100)
    hold.recovering = true
    _ = hold.hold(1, at: 1000 * second, sequence: 1)
    #expect(!hold.isLate(0))
    #expect(hold.hold(2, at: 0, sequence: 2).isEmpty)
    hold.recovering = false
    #expect(hold.releasable() == [2])
  }

  @Test func aRedeliveryOfAHeldMessageIsKnown() {
    var hold = AcknowledgementHold<Int>(windowNanoseconds: 60 * second, latenessNanoseconds: 0, capacity: 100)
    _ = hold.hold(1, at: 0, sequence: 7)
    #expect(hold.holds(sequence: 7) && !hold.holds(sequence: 8))
    hold.replace(sequence: 7, with: 70)
    #expect(hold.held == [70])
    #expect(hold.hold(2, at: 61 * second, sequence: 8) == [70])
    #expect(!hold.holds(sequence: 7))
  }
}

@Suite struct FleetRuleTests {
  static var repository: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  }

  static func scan(hosts: Int, remote: String = "198.51.100.66", start: Int64 = 1_000_000_000_000) -> [SensorEvent] {
    (0..<hosts).map { index in
      var event = FlowEvent(
        name: .netFlowTCPBegin, timestamp: start + Int64(index) * 1_000_000_000, direction: .incoming,
        source: Endpoint(IPAddress(remote)!, 40_000), destination: Endpoint(IPAddress("203.0.113.\(index + 1)")!, 22))
      event.host = "host-\(index)"
      return .flow(event)
    }
  }

  @Test func theShippedFileIsTheBuiltInOne() throws {
    let file = try String(
      contentsOf: Self.repository.appendingPathComponent("rules/fleet/10-fleet.yaml"), encoding: .utf8)
    #expect(FleetRules.files.map(\.text) == [file])
    let rules = try RuleLoader.load(sources: FleetRules.files, paths: [])
    #expect(rules.rules.map(\.id) == ["FS-FLEET-001"])
    #expect(PartitionLayout.problems(rules, partitionKey: "remote", partitions: 4).isEmpty)
    #expect(PartitionLayout.longestWindowNanoseconds(rules) == 600 * 1_000_000_000)
  }

  @Test func oneRemoteReachingThirtyHostsRaisesOneAlert() throws {
    let rules = try RuleLoader.load(sources: FleetRules.files, paths: [])
    var configuration = RuleEngine.Configuration()
    configuration.maximumEventsPerAlert = 100
    let engine = RuleEngine(rules: rules, configuration: configuration)
    var alerts: [Alert] = []
    for event in Self.scan(hosts: 29) + Self.scan(hosts: 1) {
      engine.process(event, at: event.timestamp, into: &alerts)
    }
    #expect(alerts.isEmpty, "29 distinct hosts, one of them twice")
    for event in Self.scan(hosts: 30, start: 1_000_000_100_000) {
      engine.process(event, at: event.timestamp, into: &alerts)
    }
    #expect(alerts.count == 1)
    #expect(Set(alerts.first?.events.map(\.host) ?? []).count == 30)
    // The same hosts spread over more than the window do not.
    let slow = RuleEngine(rules: rules, configuration: configuration)
    var none: [Alert] = []
    for (index, event) in Self.scan(hosts: 30).enumerated() {
      slow.process(event, at: Int64(index) * 60_000_000_000, into: &none)
    }
    #expect(none.isEmpty)
  }

  @Test func rulesGroupingByAnotherKeyAreRefused() throws {
    let rules = try RuleLoader.load(
      text: """
        - rule:
            id: T-HOST-1
            name: Many remotes reach one host
            description: test
            severity: low
            events: [net_flow_tcp_begin]
            condition: host == web-1 or conn_direction == incoming
            threshold: {distinct: remote, count: 3, window: 1m, group_by: [host]}
            output: "{host}"
        """)
    let problems = PartitionLayout.problems(rules, partitionKey: "remote", partitions: 4)
    #expect(problems.count == 1)
    #expect(problems.first?.contains("group_by [host] spans partitions") == true)
    #expect(PartitionLayout.problems(rules, partitionKey: "host", partitions: 4).isEmpty)
    #expect(PartitionLayout.problems(rules, partitionKey: "remote", partitions: 1).isEmpty)
  }

  @Test func aRestartedWindowRaisesTheSameIdWhateverTheOrder() throws {
    let rules = try RuleLoader.load(sources: FleetRules.files, paths: [])
    var configuration = RuleEngine.Configuration()
    configuration.maximumEventsPerAlert = 100
    var ids: [String] = []
    for events in [Self.scan(hosts: 30), Self.scan(hosts: 30).reversed()] {
      let engine = RuleEngine(rules: rules, configuration: configuration)
      var alerts: [Alert] = []
      for event in events { engine.process(event, at: event.timestamp, into: &alerts) }
      let sink = CollectingSink()
      let naming = AggregateAlertSink(sink, host: "fleet", forwardsEvents: false)
      alerts.forEach(naming.receive)
      ids += sink.alerts.map(\.id)
    }
    #expect(ids.count == 2 && ids[0] == ids[1] && ids[0].count == 32)
  }

  @Test func eventsKeepTheirSensorThroughJSON() throws {
    var event = FlowEvent(
      name: .netFlowTCPBegin, timestamp: 5, direction: .incoming, source: Endpoint(IPAddress("198.51.100.1")!, 1),
      destination: Endpoint(IPAddress("203.0.113.1")!, 2))
    let context = EventJSON.Context(hostName: "sensor-a")
    let line = EventJSON.line(for: .flow(event), context: context)
    guard case .event(let read) = EventJSONReader.read(line) else {
      Issue.record("not read back: \(line)")
      return
    }
    #expect(read.host == "sensor-a")
    event.host = "web-2"
    let own = EventJSON.line(for: .flow(event), context: context)
    #expect(own.contains(#""host":"web-2""#))
  }
}

final class CollectingSink: EventSink {
  var alerts: [Alert] = []
  func receive(_ event: SensorEvent) {}
  func receive(_ alert: Alert) { alerts.append(alert) }
}

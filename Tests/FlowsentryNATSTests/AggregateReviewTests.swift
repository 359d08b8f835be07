import FlowsentryAggregate
import FlowsentryCore
import FlowsentryRules
import Foundation
import Testing

/// An event dated far ahead of the aggregate's clock (a bad clock, a lying sensor) once moved the
/// watermark there for good, and every honest event after it was acknowledged as late.
@Suite struct FutureDatedEventTests {
  static let second: Int64 = 1_000_000_000
  /// The aggregate's clock in these tests: the scans below are a minute old by it.
  static let now: Int64 = 1_000_000_000_000 + 60 * second
  static let year2100: Int64 = 4_102_444_800 * second

  /// Runs events through the hold and the engine as `Aggregator` does: admission, then evaluation.
  static func aggregate(
    _ events: [SensorEvent], now: Int64 = now, skew: Int64 = 300 * second
  ) throws -> (alerts: [Alert], hold: AcknowledgementHold<Int>) {
    let rules = try RuleLoader.load(sources: FleetRules.files, paths: [])
    var configuration = RuleEngine.Configuration()
    configuration.maximumEventsPerAlert = 100
    let engine = RuleEngine(rules: rules, configuration: configuration)
    var hold = AcknowledgementHold<Int>(
      windowNanoseconds: PartitionLayout.longestWindowNanoseconds(rules), latenessNanoseconds: 60 * second,
      capacity: 1000, futureSkewNanoseconds: skew)
    var alerts: [Alert] = []
    for (sequence, event) in events.enumerated() {
      switch hold.admission(of: event.timestamp, now: now) {
      case .future: hold.countFuture()
      case .late: hold.countLate()
      case .evaluate:
        engine.process(event, at: event.timestamp, into: &alerts)
        _ = hold.hold(sequence, at: event.timestamp, sequence: UInt64(sequence), now: now)
      }
    }
    return (alerts, hold)
  }

  static func event(at time: Int64, host: String, remote: String = "198.51.100.7") -> SensorEvent {
    var event = FlowEvent(
      name: .netFlowTCPBegin, timestamp: time, direction: .incoming, source: Endpoint(IPAddress(remote)!, 40_000),
      destination: Endpoint(IPAddress("203.0.113.200")!, 22))
    event.host = host
    return .flow(event)
  }

  @Test func oneEventFromTheYear2100DoesNotSwitchDetectionOff() throws {
    let poison = Self.event(at: Self.year2100, host: "liar")
    let (alerts, hold) = try Self.aggregate([poison] + FleetRuleTests.scan(hosts: 30))
    #expect(alerts.count == 1, "the scan after the future event is still detected")
    #expect(hold.counters.future == 1 && hold.counters.late == 0)
    #expect(hold.watermark < Self.now)
    // A restart: the same event is delivered again first, while the hold recovers.
    var recovering = AcknowledgementHold<Int>(
      windowNanoseconds: 0, latenessNanoseconds: 0, capacity: 10, futureSkewNanoseconds: 300 * Self.second)
    recovering.recovering = true
    #expect(recovering.admission(of: Self.year2100, now: Self.now) == .future)
  }

  @Test func anEventJustWithinTheSkewIsEvaluatedButDoesNotMakeHonestEventsLate() throws {
    // Four minutes ahead: within the five-minute bound, evaluated, yet the watermark stays at the
    // aggregate's clock, so a scan a minute behind that clock is within the 60 s lateness.
    let ahead = Self.event(at: Self.now + 240 * Self.second, host: "fast-clock")
    let scan = FleetRuleTests.scan(hosts: 30, start: Self.now - 50 * Self.second)
    let (alerts, hold) = try Self.aggregate([ahead] + scan)
    #expect(alerts.count == 1)
    #expect(hold.counters.future == 0 && hold.counters.late == 0 && hold.counters.held == 31)
    #expect(hold.watermark == Self.now)
  }

  @Test func theBoundIsTheAggregatesClockPlusTheSkew() {
    let hold = AcknowledgementHold<Int>(
      windowNanoseconds: 0, latenessNanoseconds: 0, capacity: 1, futureSkewNanoseconds: 10 * Self.second)
    #expect(hold.admission(of: Self.now + 10 * Self.second, now: Self.now) == .evaluate)
    #expect(hold.admission(of: Self.now + 10 * Self.second + 1, now: Self.now) == .future)
    #expect(hold.admission(of: .max, now: .max - 1) == .evaluate, "saturates, never wraps")
  }

  @Test func theSkewIsASettingBesideLateness() throws {
    #expect(try AggregateInput.parse("nats://h?stream=s&consumer=c").futureSkewMilliseconds == 300_000)
    #expect(try AggregateInput.parse("nats://h?stream=s&consumer=c&future_skew_ms=1000").futureSkewMilliseconds == 1000)
    #expect(throws: AggregateInputError.self) {
      try AggregateInput.parse("nats://h?stream=s&consumer=c&future_skew_ms=-1")
    }
  }
}

@Suite struct BatchAndPendingTests {
  @Test func aBatchThatFillsTheServersPendingBoundIsRefused() throws {
    for spec in ["batch=256&max_ack_pending=256", "max_ack_pending=16&batch=4096", "max_ack_pending=100"] {
      do {
        _ = try AggregateInput.parse("nats://h?stream=s&consumer=c&\(spec)")
        Issue.record("\(spec) was accepted")
      } catch {
        #expect(error.reason.contains("must be below max_ack_pending"), "\(spec): \(error)")
      }
    }
    let input = try AggregateInput.parse("nats://h?stream=s&consumer=c&batch=255&max_ack_pending=256")
    #expect(input.batch == 255 && input.maximumAcknowledgementsPending == 256)
  }
}

@Suite struct AggregateAlertIdentifierTests {
  static let rules = """
    - rule:
        id: T-SSH-IN
        name: Incoming SSH
        description: test
        severity: low
        events: [net_flow_tcp_begin]
        condition: conn_direction == incoming and local_port == 22
        output: "{remote}"
    """

  func ids(_ events: [SensorEvent]) throws -> [String] {
    let engine = RuleEngine(rules: try RuleLoader.load(text: Self.rules))
    var alerts: [Alert] = []
    for event in events { engine.process(event, at: event.timestamp, into: &alerts) }
    let sink = CollectingSink()
    let naming = AggregateAlertSink(sink, host: "fleet", forwardsEvents: false)
    alerts.forEach(naming.receive)
    return sink.alerts.map(\.id)
  }

  @Test func singleEventAlertsOfTwoHostsAtTheSameTimeHaveTwoIds() throws {
    let time: Int64 = 1_000_000_000_000
    let fromTwoRemotes = try ids([
      FutureDatedEventTests.event(at: time, host: "web-1", remote: "198.51.100.1"),
      FutureDatedEventTests.event(at: time, host: "web-2", remote: "198.51.100.2"),
    ])
    #expect(fromTwoRemotes.count == 2 && Set(fromTwoRemotes).count == 2)
    // The same tuple behind two sensors (addresses reused across sites) is still two alerts.
    let oneTupleTwoHosts = try ids([
      FutureDatedEventTests.event(at: time, host: "web-1"), FutureDatedEventTests.event(at: time, host: "web-2"),
    ])
    #expect(oneTupleTwoHosts.count == 2 && Set(oneTupleTwoHosts).count == 2)
    // And the same event again keeps its id.
    #expect(try ids([FutureDatedEventTests.event(at: time, host: "web-1")]) == [oneTupleTwoHosts[0]])
  }
}

@Suite struct PartitionKeyTests {
  static func threshold(events: String, groupBy: String) throws -> RuleSet {
    try RuleLoader.load(
      text: """
        - rule:
            id: T-FLEET-DNS
            name: Many lookups
            description: test
            severity: low
            events: [\(events)]
            condition: host != ""
            threshold: {distinct: host, count: 3, window: 1m, group_by: [\(groupBy)]}
            output: "{count}"
        """)
  }

  @Test func aPartitionKeyThatIsNoRuleFieldIsRefused() throws {
    let rules = try RuleLoader.load(sources: FleetRules.files, paths: [])
    let problems = PartitionLayout.problems(rules, partitionKey: "remot", partitions: 4)
    #expect(problems.count == 1)
    #expect(problems.first?.contains("partition_key 'remot' is not a rule field") == true)
    #expect(!PartitionLayout.problems(rules, partitionKey: "name", partitions: 1).isEmpty)
  }

  @Test func aThresholdOnDNSEventsGroupedByAKeyTheyLackIsRefused() throws {
    let dns = try Self.threshold(events: "net_packet_dns", groupBy: "remote")
    let problems = PartitionLayout.problems(dns, partitionKey: "remote", partitions: 4)
    #expect(problems.count == 1)
    #expect(problems.first?.contains("net_packet_dns events, which have no 'remote' field") == true)
    // Flows carry remote; DNS events carry host; one partition splits nothing.
    #expect(
      PartitionLayout.problems(
        try Self.threshold(events: "net_flow_tcp_begin", groupBy: "remote"), partitionKey: "remote", partitions: 4
      ).isEmpty)
    #expect(
      PartitionLayout.problems(
        try Self.threshold(events: "net_packet_dns", groupBy: "host"), partitionKey: "host", partitions: 4
      ).isEmpty)
    #expect(PartitionLayout.problems(dns, partitionKey: "remote", partitions: 1).isEmpty)
  }
}

import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// Beaconing on generated interval series, with a seeded generator so that each run is the same.
@Suite struct BeaconRuleTests {
  static let second: Int64 = 1_000_000_000

  static let rule = """
    - rule:
        id: B-1
        name: beacon
        events: [net_flow_tcp_end]
        condition: conn_direction == outgoing
        beacon: {group_by: [process.comm, remote], min_connections: 10}
        output: "beacon to {remote} every {period} (jitter {jitter}, score {score}, {count} connections)"
    """

  /// xorshift64*: deterministic, good enough for test series.
  struct Generator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
      state ^= state >> 12
      state ^= state << 25
      state ^= state >> 27
      return state &* 0x2545_F491_4F6C_DD1D
    }
  }

  func end(at time: Int64, remote: String = "203.0.113.5", bytes: UInt64? = 640) -> SensorEvent {
    .flow(
      FlowEvent(
        name: .netFlowTCPEnd, timestamp: time, direction: .outgoing,
        source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress(remote)!, 443),
        closeReason: .fin, terminatedBy: .local, process: ProcessIdentity(pid: 10, uid: 0, command: "agent"),
        volume: bytes.map { FlowVolume(bytesSent: $0, bytesReceived: 2 * $0) }))
  }

  /// Connections at the given times (seconds); the alerts raised and at which connection the first came.
  func run(_ times: [Double], bytes: [UInt64?]? = nil, engine: RuleEngine? = nil, remote: String = "203.0.113.5")
    throws -> (alerts: [Alert], firstAt: Int?, engine: RuleEngine)
  {
    let engine = try engine ?? RuleEngine(rules: RuleLoader.load(text: Self.rule, file: "b.yaml"))
    var alerts: [Alert] = []
    var firstAt: Int?
    for (index, time) in times.enumerated() {
      let nanoseconds = Int64(time * 1e9)
      engine.process(end(at: nanoseconds, remote: remote, bytes: bytes?[index] ?? 640), at: nanoseconds, into: &alerts)
      if firstAt == nil && !alerts.isEmpty { firstAt = index + 1 }
    }
    return (alerts, firstAt, engine)
  }

  func times(_ intervals: [Double]) -> [Double] {
    var time = 1_000.0
    return [time]
      + intervals.map {
        time += $0; return time
      }
  }

  @Test func aPerfectBeaconIsAlertedAtTheMinimumCount() throws {
    let result = try run(times(Array(repeating: 60, count: 40)))
    #expect(result.firstAt == 10)
    let alert = try #require(result.alerts.first)
    #expect(alert.count == 10)
    #expect(alert.message == "beacon to 203.0.113.5 every 1m (jitter 0ms, score 1.00, 10 connections)")
    #expect(alert.measurements.map(\.name) == ["score", "period_ms", "jitter_ms"])
    #expect(alert.events.count == BeaconRule.sampleCapacity)
    // The suppression window (1 h) folds the next 31 connections of the same beacon, counted.
    #expect(result.alerts.count == 1)
    #expect(result.engine.counters.suppressed == 31)
  }

  @Test(arguments: Array(1...32) as [UInt64])
  func aTwoSecondBeaconWithTwentyPercentJitterIsAlertedWithinFifteen(seed: UInt64) throws {
    var random = Generator(state: seed &* 0x9E37_79B9_7F4A_7C15 | 1)
    let intervals = (0..<30).map { _ in 2.0 * Double.random(in: 0.8...1.2, using: &random) }
    let result = try run(times(intervals))
    let firstAt = try #require(result.firstAt)
    #expect(firstAt <= 15)
    let period = try #require(result.alerts.first?.measurements.first { $0.name == "period_ms" }?.value)
    #expect((1_600...2_400).contains(period))
  }

  @Test(arguments: Array(1...32) as [UInt64])
  func exponentialIntervalsAreNotAlerted(seed: UInt64) throws {
    var random = Generator(state: seed &* 0x9E37_79B9_7F4A_7C15 | 1)
    let intervals = (0..<300).map { _ in -30 * log(Double.random(in: Double.ulpOfOne..<1, using: &random)) }
    let sizes = (0..<301).map { _ in UInt64.random(in: 200...50_000, using: &random) } as [UInt64?]
    #expect(try run(times(intervals), bytes: sizes).alerts.isEmpty)
  }

  @Test(arguments: [1, 2, 3, 4] as [UInt64])
  func bimodalIntervalsAreNotAlerted(seed: UInt64) throws {
    var random = Generator(state: seed &* 0x9E37_79B9_7F4A_7C15 | 1)
    let intervals = (0..<200).map { _ in Bool.random(using: &random) ? 5.0 : 300.0 }
    #expect(try run(times(intervals)).alerts.isEmpty)
  }

  @Test func aBrowserBurstIsNotAlerted() throws {
    // A page load: 40 connections within a second, then the same again a minute later.
    var random = Generator(state: 42)
    var series: [Double] = []
    for page in 0..<3 {
      var time = Double(page) * 60
      for _ in 0..<40 {
        time += Double.random(in: 0.005...0.05, using: &random)
        series.append(time)
      }
    }
    let sizes = (0..<120).map { _ in UInt64.random(in: 500...900_000, using: &random) } as [UInt64?]
    #expect(try run(series, bytes: sizes).alerts.isEmpty)
  }

  @Test func aDownloadIsNotAlerted() throws {
    // A few long transfers, irregularly apart, with large and varied sizes.
    let series = [0.0, 95, 310, 332, 700, 1_500]
    let sizes: [UInt64?] = [700 << 20, 12 << 20, 1 << 30, 3 << 20, 80 << 20, 200 << 20]
    #expect(try run(series, bytes: sizes).alerts.isEmpty)
  }

  @Test func anEvictedGroupStartsAgainAndIsCounted() throws {
    var configuration = RuleEngine.Configuration()
    configuration.maximumGroupsPerRule = 2
    let engine = RuleEngine(rules: try RuleLoader.load(text: Self.rule, file: "b.yaml"), configuration: configuration)
    var alerts: [Alert] = []
    // Six beacon connections, then two other remotes push the group out.
    for index in 0..<6 {
      engine.process(end(at: Int64(index) * 60 * Self.second), at: Int64(index) * 60 * Self.second, into: &alerts)
    }
    for (offset, remote) in ["203.0.113.6", "203.0.113.7"].enumerated() {
      let time = Int64(400 + offset) * Self.second
      engine.process(end(at: time, remote: remote), at: time, into: &alerts)
    }
    #expect(engine.counters.groupEvictions == 1)
    // Back: its history is gone, so it needs ten connections again, not four more.
    var firstAt: Int?
    for index in 0..<12 {
      let time = Int64(1_000 + index * 60) * Self.second
      engine.process(end(at: time), at: time, into: &alerts)
      if firstAt == nil && !alerts.isEmpty { firstAt = index + 1 }
    }
    #expect(firstAt == 10)
  }

  @Test func stateStaysSmallForOneHundredThousandRemotes() throws {
    let engine = RuleEngine(rules: try RuleLoader.load(text: Self.rule, file: "b.yaml"))
    var alerts: [Alert] = []
    for index in 0..<100_000 {
      let remote = "10.\(index >> 16).\((index >> 8) & 255).\(index & 255)"
      engine.process(end(at: Int64(index), remote: remote), at: Int64(index), into: &alerts)
    }
    #expect(engine.counters.groupEvictions == 100_000 - UInt64(engine.configuration.maximumGroupsPerRule))
    #expect(alerts.isEmpty)
  }

  @Test func quartilesAndMedianAbsoluteDeviation() {
    let shape = BeaconScore.shape([1, 2, 3, 4, 100])
    #expect(shape.median == 3)
    #expect(shape.mad == 1)
    // Q1 2, Q2 3, Q3 4: symmetric quartiles whatever the outlier.
    #expect(shape.skewness == 0)
    #expect(BeaconScore.shape([1, 1, 1, 10, 10]).skewness == 1)
  }
}

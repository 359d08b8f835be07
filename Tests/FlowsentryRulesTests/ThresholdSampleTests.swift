import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// A threshold alert carries the last `maximumEventsPerAlert` matching events of its group's window
/// (those counted within `window` of the alert, since the group began: its first event, the previous
/// alert, or its eviction) and counts the rest in `eventsLeftOut`, whichever events the engine chose
/// not to copy on the way. Events of an earlier burst, older than the window, are neither listed nor
/// counted (an alert of "3 connections in 5s" listed one an hour old, and its id was hashed from it).
@Suite struct ThresholdSampleTests {
  static let second: Int64 = 1_000_000_000

  func begin(remote: Int, port: Int, at time: Int64) -> SensorEvent {
    .flow(
      FlowEvent(
        name: .netFlowTCPBegin, timestamp: time, direction: .outgoing,
        source: Endpoint(IPAddress("198.51.100.2")!, 40_000),
        destination: Endpoint(IPAddress("203.0.113.\(remote)")!, UInt16(port))))
  }

  func engine(_ threshold: String, capacity: Int, groups: Int) throws -> RuleEngine {
    var configuration = RuleEngine.Configuration()
    configuration.maximumEventsPerAlert = capacity
    configuration.maximumGroupsPerRule = groups
    let text = """
      - rule: {id: S-1, name: n, events: [net_flow_tcp_begin], condition: dst_port > 0, \
      threshold: {\(threshold), window: 10s, group_by: [remote]}, output: "{count} {remote}"}
      """
    return RuleEngine(rules: try RuleLoader.load(text: text, file: "s.yaml"), configuration: configuration)
  }

  @Test func aRepeatedDistinctValueIsSampledButNotCounted() throws {
    let rules = try engine("distinct: remote_port, count: 5", capacity: 3, groups: 10)
    var alerts: [Alert] = []
    var sent: [SensorEvent] = []
    var time: Int64 = 0
    for port in Array(repeating: 1, count: 50) + [2, 3, 4, 5] {
      time += Self.second / 10
      let event = begin(remote: 9, port: port, at: time)
      sent.append(event)
      rules.process(event, at: time, into: &alerts)
    }
    #expect(alerts.count == 1)
    #expect(alerts.first?.count == 5)
    #expect(alerts.first?.events == Array(sent.suffix(3)))
    #expect(alerts.first?.eventsLeftOut == 51)
    // The repeated value fills a whole sample when it comes last (past the first alert's window,
    // which suppresses another of the group).
    time += 10 * Self.second
    for port in [1, 2, 3, 4] + Array(repeating: 4, count: 6) + [5] {
      time += Self.second / 10
      let event = begin(remote: 9, port: port, at: time)
      sent.append(event)
      rules.process(event, at: time, into: &alerts)
    }
    #expect(alerts.count == 2)
    #expect(alerts.last?.events == Array(sent.suffix(3)))
    #expect(alerts.last?.eventsLeftOut == 8)
  }

  /// Random streams over a few groups (some evicted from a full LRU), with windows expiring,
  /// values repeating and groups firing again after each alert: every alert's sample and
  /// `eventsLeftOut` are those of a model that keeps every matching event of the window.
  @Test(arguments: ["count: THRESHOLD", "distinct: remote_port, count: THRESHOLD"])
  func alertsCarryTheLastEventsOfTheirWindow(_ measure: String) throws {
    var random = SeededRandom(seed: 18)
    var checked = 0
    var stale = 0
    for _ in 0..<200 {
      let capacity = Int.random(in: 1...6, using: &random)
      let threshold = Int.random(in: 1...12, using: &random)
      let groups = Int.random(in: 1...4, using: &random)
      let ports = Int.random(in: 1...15, using: &random)
      let rules = try engine(
        measure.replacingOccurrences(of: "THRESHOLD", with: "\(threshold)"), capacity: capacity, groups: groups)
      // The model: each group's matching events since its window began (or since it was last quiet
      // for a whole window), and the LRU's order.
      var windows: [Int: [SensorEvent]] = [:]
      var recency: [Int] = []
      var evictions: UInt64 = 0
      var alerts: [Alert] = []
      var time: Int64 = 0
      for _ in 0..<300 {
        time += Int64.random(in: 0...(3 * Self.second), using: &random)
        let remote = Int.random(in: 1...4, using: &random)
        let event = begin(remote: remote, port: Int.random(in: 1...ports, using: &random), at: time)
        if let known = recency.firstIndex(of: remote) {
          recency.remove(at: known)
        } else if recency.count == groups {
          windows[recency.removeFirst()] = nil
          evictions += 1
        }
        recency.append(remote)
        if let newest = windows[remote]?.last?.timestamp, newest <= time - 10 * Self.second { windows[remote] = [] }
        windows[remote, default: []].append(event)
        let (before, suppressedBefore) = (alerts.count, rules.counters.suppressed)
        rules.process(event, at: time, into: &alerts)
        // A threshold suppresses its group's alerts within its window: fired, but folded.
        if rules.counters.suppressed > suppressedBefore {
          windows[remote] = nil
          recency.removeAll { $0 == remote }
        }
        guard alerts.count > before else { continue }
        let stretch = windows[remote] ?? []
        let window = stretch.filter { $0.timestamp > time - 10 * Self.second }
        #expect(alerts.last?.events == Array(window.suffix(capacity)))
        if measure.hasPrefix("count") {
          #expect(alerts.last?.eventsLeftOut == window.count - min(window.count, capacity))
        } else {
          // No time per event: the stretch's older events count too, once the window fills the sample.
          #expect(alerts.last?.eventsLeftOut == (window.count < capacity ? 0 : stretch.count - capacity))
          #expect(alerts.last!.eventsLeftOut >= window.count - min(window.count, capacity))
        }
        if window.count < stretch.count { stale += 1 }
        windows[remote] = nil
        recency.removeAll { $0 == remote }
        checked += 1
      }
      #expect(rules.counters.groupEvictions == evictions)
    }
    // Enough alerts that the streams exercised what they were made for, some with older events.
    #expect(checked > 500)
    #expect(stale > 50, "\(stale)")
  }

  /// The walkthrough's case: one event, an hour's quiet, then three within the window.
  @Test(arguments: ["count: 3", "distinct: remote_port, count: 3"])
  func anEarlierBurstIsNeitherListedNorCountedAsLeftOut(_ measure: String) throws {
    let rules = try engine(measure, capacity: 20, groups: 10)
    var alerts: [Alert] = []
    let times = [0, 3_600, 3_601, 3_602].map { Int64($0) * Self.second }
    var sent: [SensorEvent] = []
    for (port, time) in times.enumerated() {
      let event = begin(remote: 9, port: port + 1, at: time)
      sent.append(event)
      rules.process(event, at: time, into: &alerts)
    }
    #expect(alerts.count == 1)
    #expect(alerts.first?.count == 3)
    #expect(alerts.first?.events == Array(sent.suffix(3)))
    #expect(alerts.first?.eventsLeftOut == 0)
  }
}

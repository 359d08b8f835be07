import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// A beaconing alert carries its group's last `BeaconRule.sampleCapacity` connections since the
/// group's history began (its first connection, or its eviction from a full LRU), whichever the
/// engine chose not to copy on the way.
@Suite struct BeaconSampleTests {
  static let second: Int64 = 1_000_000_000

  static func end(remote: Int, at time: Int64) -> SensorEvent {
    .flow(
      FlowEvent(
        name: .netFlowTCPEnd, timestamp: time, direction: .outgoing,
        source: Endpoint(IPAddress("198.51.100.2")!, 40_000),
        destination: Endpoint(IPAddress("203.0.113.\(remote)")!, 443),
        terminatedBy: .local))
  }

  @Test(arguments: [4, 5, 8, 12])
  func alertsCarryTheLastConnectionsOfTheirGroup(minimumConnections: Int) throws {
    var random = SeededRandom(seed: UInt64(minimumConnections))
    var checked = 0
    for _ in 0..<40 {
      let groups = Int.random(in: 1...3, using: &random)
      var configuration = RuleEngine.Configuration()
      configuration.maximumGroupsPerRule = groups
      let text = """
        - rule: {id: B-1, name: n, events: [net_flow_tcp_end], condition: conn_direction == outgoing, \
        beacon: {group_by: [remote], min_connections: \(minimumConnections), min_score: 0.5, suppress: 5m}}
        """
      let engine = RuleEngine(rules: try RuleLoader.load(text: text, file: "b.yaml"), configuration: configuration)
      // The model: each group's connections since its history began, and the LRU's order.
      var histories: [Int: [SensorEvent]] = [:]
      var recency: [Int] = []
      var alerts: [Alert] = []
      // Each group calls about once a minute; the stream interleaves them by time.
      var next = (1...Int.random(in: 1...3, using: &random)).map { _ in
        Int64.random(in: 0...(60 * Self.second), using: &random)
      }
      for _ in 0..<300 {
        let index = next.indices.min { next[$0] < next[$1] }!
        let time = next[index]
        next[index] += 60 * Self.second + Int64.random(in: 0...(Self.second * 3), using: &random)
        let remote = index + 1
        if let known = recency.firstIndex(of: remote) {
          recency.remove(at: known)
        } else if recency.count == groups {
          histories[recency.removeFirst()] = nil
        }
        recency.append(remote)
        let event = Self.end(remote: remote, at: time)
        histories[remote, default: []].append(event)
        let before = alerts.count
        engine.process(event, at: time, into: &alerts)
        guard alerts.count > before, let alert = alerts.last else { continue }
        let history = histories[remote] ?? []
        #expect(alert.count == history.count)
        #expect(alert.events == Array(history.suffix(BeaconRule.sampleCapacity)))
        checked += 1
      }
    }
    #expect(checked > 20)
  }
}

import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// Suppression, by fields and by indicator, against a model of its contract: per key, alerts
/// within the window after one that was raised are folded and counted, and the next alert raised
/// reports how many; the keys sit in an LRU of `maximumGroupsPerRule`, where a lookup of a present
/// key (folded or not) makes it the most recently used and a new key evicts the least.
@Suite struct SuppressionPathTests {
  static let second: Int64 = 1_000_000_000

  static func connection(remote: Int, port: Int, at time: Int64) -> SensorEvent {
    .flow(
      FlowEvent(
        name: .netFlowTCPBegin, timestamp: time, direction: .outgoing,
        source: Endpoint(IPAddress("198.51.100.2")!, 40_000),
        destination: Endpoint(IPAddress("203.0.113.\(remote)")!, UInt16(port))))
  }

  /// The model's key: the fields' values and, by indicator, the listed address (every listed
  /// address is its own indicator here).
  struct Key: Hashable {
    var remote: Int?
    var port: Int?
  }

  /// `by`, and whether the model's key holds the port (the local port is the same throughout).
  @Test(arguments: [
    ("[indicator]", false), ("[indicator, remote_port]", true), ("[remote_port, indicator, local_port]", true),
    ("[remote]", false), ("[remote, remote_port]", true),
  ])
  func alertsFoldAsTheModelSays(by: String, keyedByPort: Bool) throws {
    let byIndicator = by.contains("indicator")
    var random = SeededRandom(seed: 19)
    var raised = 0
    var folds = 0
    for _ in 0..<60 {
      let groups = Int.random(in: 1...4, using: &random)
      var configuration = RuleEngine.Configuration()
      configuration.maximumGroupsPerRule = groups
      let text = """
        - list: {name: c2, type: address, items: [203.0.113.1, 203.0.113.2, 203.0.113.3]}
        - rule: {id: P-1, name: n, events: [net_flow_tcp_begin], condition: remote in c2 or remote_port == 9, \
        suppress: {window: 10s, by: \(by)}, output: "{remote}"}
        """
      let engine = RuleEngine(rules: try RuleLoader.load(text: text, file: "p.yaml"), configuration: configuration)
      var lastAlert: [Key: (time: Int64, folded: Int)] = [:]
      var recency: [Key] = []
      var alerts: [Alert] = []
      var modelFolds: UInt64 = 0
      var time: Int64 = 0
      for _ in 0..<200 {
        time += Int64.random(in: 0...(4 * Self.second), using: &random)
        let remote = Int.random(in: 1...5, using: &random)
        let port = Int.random(in: 8...10, using: &random)
        guard remote <= 3 || port == 9 else { continue }
        // An unlisted remote names no indicator: those alerts share the empty one.
        let indicator = remote <= 3 ? remote : nil
        let key = Key(remote: byIndicator ? indicator : remote, port: keyedByPort ? port : nil)
        var expected: Int?
        if let previous = lastAlert[key] {
          recency.removeAll { $0 == key }
          recency.append(key)
          if time - previous.time < 10 * Self.second {
            lastAlert[key]?.folded += 1
            modelFolds += 1
          } else {
            expected = previous.folded
            lastAlert[key] = (time, 0)
          }
        } else {
          if recency.count == groups { lastAlert[recency.removeFirst()] = nil }
          recency.append(key)
          lastAlert[key] = (time, 0)
          expected = 0
        }
        let before = alerts.count
        engine.process(Self.connection(remote: remote, port: port, at: time), at: time, into: &alerts)
        #expect(alerts.count == before + (expected == nil ? 0 : 1))
        guard let expected, alerts.count > before, let alert = alerts.last else { continue }
        #expect(alert.suppressed == expected)
        #expect(alert.message == "203.0.113.\(remote)")
        #expect(alert.indicator?.indicator == indicator.map { "203.0.113.\($0)/32" })
        #expect(alert.events == [Self.connection(remote: remote, port: port, at: time)])
        raised += 1
      }
      #expect(engine.counters.alerts == UInt64(alerts.count))
      #expect(engine.counters.suppressed == modelFolds)
      folds += Int(engine.counters.suppressed)
    }
    #expect(raised > 500 && folds > 500)
  }
}

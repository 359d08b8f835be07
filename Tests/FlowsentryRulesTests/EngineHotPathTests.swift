import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// The per-event shortcuts of the engine: windows and beacon histories a full LRU evicts are reused
/// empty, a `distinct` window's inline first value, the group keys built once per event, and the
/// macros answered once per event.
@Suite struct EngineHotPathTests {
  static let second: Int64 = 1_000_000_000

  func engine(_ text: String, groups: Int = 10_000) throws -> RuleEngine {
    var configuration = RuleEngine.Configuration()
    configuration.maximumGroupsPerRule = groups
    return RuleEngine(rules: try RuleLoader.load(text: text, file: "h.yaml"), configuration: configuration)
  }

  func begin(remote: String, port: UInt16 = 443, direction: ConnectionDirection = .outgoing) -> SensorEvent {
    let local = Endpoint(IPAddress("198.51.100.2")!, 40_000)
    let peer = Endpoint(IPAddress(remote)!, port)
    return .flow(
      FlowEvent(
        name: .netFlowTCPBegin, timestamp: 0, direction: direction,
        source: direction == .outgoing ? local : peer, destination: direction == .outgoing ? peer : local))
  }

  @Test func aWindowTakenFromAnEvictedGroupStartsEmpty() throws {
    let rules = try engine(
      """
      - rule: {id: H-1, name: n, events: [net_flow_tcp_begin], condition: dst_port > 0, \
      threshold: {count: 3, window: 1h, group_by: [remote]}, output: "{count} {remote}"}
      """, groups: 2)
    var alerts: [Alert] = []
    var time: Int64 = 0
    func send(_ remote: String) {
      time += Self.second
      rules.process(begin(remote: remote), at: time, into: &alerts)
    }
    send("203.0.113.1")
    send("203.0.113.1")
    send("203.0.113.2")
    // A third group evicts 203.0.113.1 (two events) and takes its window: it must count from one.
    send("203.0.113.3")
    send("203.0.113.3")
    #expect(alerts.isEmpty)
    #expect(rules.counters.groupEvictions == 1)
    send("203.0.113.3")
    #expect(alerts.count == 1)
    #expect(alerts.first?.count == 3)
    #expect(alerts.first?.events.count == 3)
    #expect(alerts.first?.eventsLeftOut == 0)
    #expect(alerts.first?.message == "3 203.0.113.3")
  }

  @Test func aDistinctWindowCountsItsInlineValueAndTheTableAlike() throws {
    let rules = try engine(
      """
      - rule: {id: H-2, name: n, events: [net_flow_tcp_begin], condition: dst_port > 0, \
      threshold: {distinct: remote_port, count: 3, window: 10s, group_by: [remote]}}
      """)
    var alerts: [Alert] = []
    // One port many times stays one value; a value expires with the window.
    for (second, port) in [(0, 80), (1, 80), (2, 80), (3, 81), (20, 82), (21, 83)] as [(Int64, UInt16)] {
      rules.process(begin(remote: "203.0.113.9", port: port), at: second * Self.second, into: &alerts)
    }
    #expect(alerts.isEmpty)
    rules.process(begin(remote: "203.0.113.9", port: 84), at: 22 * Self.second, into: &alerts)
    #expect(alerts.count == 1)
    #expect(alerts.first?.count == 3)
  }

  @Test func distinctTimesAgreeWithADictionary() {
    var random = SeededRandom(seed: 7)
    for _ in 0..<50 {
      var times = DistinctTimes()
      var reference: [FieldValue: Int64] = [:]
      for _ in 0..<200 {
        let time = Int64.random(in: 0...1_000, using: &random)
        if Int.random(in: 0..<5, using: &random) == 0 {
          let since = Int64.random(in: 0...1_000, using: &random)
          reference = reference.filter { $0.value > since }
          #expect(times.forget(through: since) == (reference.values.min() ?? .max))
        } else {
          let value = FieldValue.integer(Int64.random(in: 0..<4, using: &random))
          reference[value] = time
          times.record(value, at: time)
        }
        #expect(times.count == reference.count)
      }
    }
  }

  @Test func rulesSharingAGroupingAndAMacroSeeEachEventsOwnValues() throws {
    let rules = try engine(
      """
      - macro: {name: far, condition: remote in (203.0.113.0/24)}
      - rule: {id: H-3, name: a, events: [net_flow_tcp_begin], condition: far, \
      threshold: {count: 2, window: 1h, group_by: [remote]}, output: "{remote}"}
      - rule: {id: H-4, name: b, events: [net_flow_tcp_begin], condition: far, suppress: {window: 1h, by: [remote]}, \
      output: "{remote}"}
      - rule: {id: H-5, name: c, events: [net_flow_tcp_begin], condition: not far, output: "{remote}"}
      """)
    var alerts: [Alert] = []
    let remotes = ["203.0.113.1", "198.51.100.7", "203.0.113.2", "203.0.113.1", "198.51.100.7", "203.0.113.2"]
    for (index, remote) in remotes.enumerated() {
      rules.process(begin(remote: remote), at: Int64(index) * Self.second, into: &alerts)
    }
    let raised = alerts.map { "\($0.ruleID) \($0.message)" }
    #expect(
      raised == [
        "H-4 203.0.113.1", "H-5 198.51.100.7", "H-4 203.0.113.2", "H-3 203.0.113.1", "H-5 198.51.100.7",
        "H-3 203.0.113.2",
      ])
    #expect(rules.counters.suppressed == 2)
  }
}

import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// First-seen rules: learning, surviving a restart through the state directory, and a damaged file.
@Suite struct FirstSeenRuleTests {
  static let day: Int64 = 86_400_000_000_000
  static let rule = """
    - rule:
        id: F-1
        name: new port
        events: [net_flow_tcp_begin]
        condition: conn_direction == outgoing
        first_seen: {field: remote_port, group_by: [process.comm], learning: 1d}
    """

  func begin(_ port: UInt16, command: String = "agent") -> SensorEvent {
    .flow(
      FlowEvent(
        name: .netFlowTCPBegin, timestamp: 0, direction: .outgoing,
        source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("203.0.113.5")!, port),
        process: ProcessIdentity(pid: 10, uid: 0, command: command)))
  }

  func engine(_ directory: String) throws -> RuleEngine {
    var configuration = RuleEngine.Configuration()
    configuration.stateDirectory = directory
    return RuleEngine(rules: try RuleLoader.load(text: Self.rule, file: "f.yaml"), configuration: configuration)
  }

  func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "flowsentry-first-seen-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  @Test func learnedValuesSurviveARestartAndNewOnesAlert() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var alerts: [Alert] = []
    let first = try engine(directory)
    for port: UInt16 in [443, 80, 22] { first.process(begin(port), at: 1_000, into: &alerts) }
    // Still learning: a new port an hour later is learned, not alerted.
    first.process(begin(8443), at: Self.day / 24, into: &alerts)
    #expect(alerts.isEmpty)
    first.saveState()
    #expect(FileManager.default.fileExists(atPath: directory + "/first-seen/\(FirstSeenStore.fileName("F-1")).json"))

    let restarted = try engine(directory)
    #expect(restarted.counters.stateFilesDamaged == 0)
    restarted.process(begin(443), at: 2 * Self.day, into: &alerts)
    restarted.process(begin(8443), at: 2 * Self.day, into: &alerts)
    #expect(alerts.isEmpty)
    restarted.process(begin(4444), at: 2 * Self.day, into: &alerts)
    #expect(alerts.count == 1)
    #expect(alerts.first?.ruleID == "F-1")
    // Learned now: not alerted twice.
    restarted.process(begin(4444), at: 2 * Self.day + 1, into: &alerts)
    #expect(alerts.count == 1)
  }

  @Test func aDamagedStateFileIsCountedAndRelearned() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try FileManager.default.createDirectory(atPath: directory + "/first-seen", withIntermediateDirectories: true)
    try Data("{\"version\":1,\"rule\":\"F-1\",\"gro".utf8).write(
      to: URL(fileURLWithPath: directory + "/first-seen/\(FirstSeenStore.fileName("F-1")).json"))
    let engine = try engine(directory)
    #expect(engine.counters.stateFilesDamaged == 1)
    var alerts: [Alert] = []
    // Relearning: the group is new again, so its ports are learned silently for a day.
    engine.process(begin(443), at: 10 * Self.day, into: &alerts)
    engine.process(begin(4444), at: 10 * Self.day + 1, into: &alerts)
    #expect(alerts.isEmpty)
    engine.saveState()
    let restarted = try self.engine(directory)
    #expect(restarted.counters.stateFilesDamaged == 0)
  }

  @Test func valuesPerGroupAreBoundedAndCounted() throws {
    let text = Self.rule.replacingOccurrences(of: "learning: 1d}", with: "learning: 1s, max_values: 3}")
    let engine = RuleEngine(rules: try RuleLoader.load(text: text, file: "f.yaml"))
    var alerts: [Alert] = []
    for port: UInt16 in 1...10 { engine.process(begin(port), at: port == 1 ? 0 : 10_000_000_000, into: &alerts) }
    #expect(alerts.count == 2)
    #expect(engine.counters.firstSeenValuesDropped == 7)
  }

  @Test func networksAreLearnedWithAPrefix() {
    var rule = FirstSeenRule(field: "remote", groupBy: [])
    rule.prefixV4 = 24
    #expect(rule.learnedText(.address(IPAddress("203.0.113.77")!)) == "203.0.113.0/24")
  }
}

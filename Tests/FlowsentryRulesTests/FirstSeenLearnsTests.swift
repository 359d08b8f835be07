import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// A first-seen state file records what its rule learned (field, groups, prefixes): after a
/// restart, a rule of the same id that learns something else starts afresh (counted), one that
/// changed only its learning period keeps what was learned, and a file written before the record
/// was kept is taken as it is.
@Suite struct FirstSeenLearnsTests {
  static let day: Int64 = 86_400_000_000_000

  static func rule(_ firstSeen: String) -> String {
    """
    - rule:
        id: F-LEARNS
        name: new port or peer
        events: [net_flow_tcp_begin]
        condition: conn_direction == outgoing
        first_seen: \(firstSeen)
    """
  }

  static func begin(_ port: UInt16, to address: String = "203.0.113.5") -> SensorEvent {
    .flow(
      FlowEvent(
        name: .netFlowTCPBegin, timestamp: 0, direction: .outgoing,
        source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress(address)!, port),
        process: ProcessIdentity(pid: 10, uid: 0, command: "agent")))
  }

  static func engine(_ directory: String, _ firstSeen: String) throws -> RuleEngine {
    var configuration = RuleEngine.Configuration()
    configuration.stateDirectory = directory
    return RuleEngine(rules: try RuleLoader.load(text: rule(firstSeen), file: "f.yaml"), configuration: configuration)
  }

  static let ports = "{field: remote_port, group_by: [process.comm], learning: 1d}"

  /// A directory where the ports rule learned 443 and 80 for `agent` and saved them.
  static func learnedDirectory() throws -> String {
    let directory = NSTemporaryDirectory() + "flowsentry-first-seen-learns-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let engine = try engine(directory, ports)
    var alerts: [Alert] = []
    for port: UInt16 in [443, 80] { engine.process(begin(port), at: 1_000, into: &alerts) }
    engine.saveState()
    #expect(alerts.isEmpty)
    return directory
  }

  static var stateFile: String { "/first-seen/\(FirstSeenStore.fileName("F-LEARNS")).json" }

  @Test func aRuleThatNowLearnsAnotherFieldStartsAfreshAndCountsIt() throws {
    let directory = try Self.learnedDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let file = try String(contentsOfFile: directory + Self.stateFile, encoding: .utf8)
    #expect(file.contains("\"learns\""))
    // Same id, same group, another field: the ports learned must not pass for peers.
    let restarted = try Self.engine(directory, "{field: remote, group_by: [process.comm], learning: 1d}")
    #expect(restarted.counters.stateFilesDamaged == 1)
    var alerts: [Alert] = []
    // The group is new again, so a peer two days later is learned silently.
    restarted.process(Self.begin(443, to: "203.0.113.9"), at: 2 * Self.day, into: &alerts)
    #expect(alerts.isEmpty)

    let regrouped = try Self.engine(directory, "{field: remote_port, group_by: [process.uid], learning: 1d}")
    #expect(regrouped.counters.stateFilesDamaged == 1)
  }

  @Test func aRuleThatChangedOnlyItsLearningPeriodKeepsWhatItLearned() throws {
    let directory = try Self.learnedDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let restarted = try Self.engine(directory, "{field: remote_port, group_by: [process.comm], learning: 2d}")
    #expect(restarted.counters.stateFilesDamaged == 0)
    var alerts: [Alert] = []
    restarted.process(Self.begin(443), at: 3 * Self.day, into: &alerts)
    #expect(alerts.isEmpty)
    restarted.process(Self.begin(4444), at: 3 * Self.day, into: &alerts)
    #expect(alerts.count == 1)
  }

  @Test func aFileWrittenBeforeTheRecordIsTakenAsItIs() throws {
    let directory = try Self.learnedDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + Self.stateFile
    var snapshot = try JSONDecoder().decode(
      FirstSeenStore.Snapshot.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(
      snapshot.learns == FirstSeenStore.Snapshot.Learns(FirstSeenRule(field: "remote_port", groupBy: ["process.comm"])))
    snapshot.learns = nil
    try JSONEncoder().encode(snapshot).write(to: URL(fileURLWithPath: path))
    let restarted = try Self.engine(directory, Self.ports)
    #expect(restarted.counters.stateFilesDamaged == 0)
    var alerts: [Alert] = []
    restarted.process(Self.begin(80), at: 3 * Self.day, into: &alerts)
    #expect(alerts.isEmpty)
    restarted.process(Self.begin(4444), at: 3 * Self.day, into: &alerts)
    #expect(alerts.count == 1)
  }
}

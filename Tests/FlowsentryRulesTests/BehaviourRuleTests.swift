import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// Volume fields, size literals, sum and max thresholds, beaconing and first-seen rules.
@Suite struct BehaviourRuleTests {
  static let second: Int64 = 1_000_000_000

  func engine(_ text: String, stateDirectory: String? = nil) throws -> RuleEngine {
    var configuration = RuleEngine.Configuration()
    configuration.stateDirectory = stateDirectory
    return RuleEngine(rules: try RuleLoader.load(text: text, file: "b.yaml"), configuration: configuration)
  }

  func errors(_ text: String) -> [Diagnostic] {
    do {
      _ = try RuleLoader.load(text: text, file: "b.yaml")
      return []
    } catch {
      return error.diagnostics.filter { $0.severity == .error }
    }
  }

  func end(
    at time: Int64, remote: String = "203.0.113.5", port: UInt16 = 443, sent: UInt64? = nil, received: UInt64 = 0,
    command: String = "agent"
  ) -> SensorEvent {
    .flow(
      FlowEvent(
        name: .netFlowTCPEnd, timestamp: time, direction: .outgoing,
        source: Endpoint(IPAddress("198.51.100.2")!, 40_000),
        destination: Endpoint(IPAddress(remote)!, port), closeReason: .fin, terminatedBy: .local,
        process: ProcessIdentity(pid: 10, uid: 0, command: command),
        volume: sent.map { FlowVolume(bytesSent: $0, bytesReceived: received) }))
  }

  func alerts(_ engine: RuleEngine, _ events: [(Int64, SensorEvent)]) -> [Alert] {
    var alerts: [Alert] = []
    for (time, event) in events { engine.process(event, at: time, into: &alerts) }
    return alerts
  }

  // MARK: - Volume fields and size literals

  @Test func volumeFieldsCompareWithSizeLiteralsAndAreMissingWithoutVolume() throws {
    let rules = try engine("- rule: {id: V-1, name: big, events: [net_flow_tcp_end], condition: bytes_sent > 100 MiB}")
    let raised = alerts(
      rules,
      [
        (0, end(at: 0, sent: 200 << 20)), (1, end(at: 1, sent: 50 << 20)), (2, end(at: 2, sent: nil)),
        (3, end(at: 3, sent: (100 << 20) + 1)),
      ])
    #expect(raised.count == 2)
    #expect(IntegerLiteral.parse("3KiB") == 3072)
    #expect(IntegerLiteral.parse("8589934592GiB") == nil)
  }

  @Test func anOverflowingSizeIsAPositionedError() {
    let text = "- rule: {id: V-1, name: big, condition: bytes_sent > 9999999999999 GiB}"
    let found = errors(text)
    #expect(found.count == 1)
    #expect(found.first?.message.contains("within 64 bits") == true)
    #expect(found.first?.column == text.distance(from: text.startIndex, to: text.firstIndex(of: "9")!) + 1)
  }

  // MARK: - Sum and max thresholds

  static let upload = """
    - rule:
        id: S-1
        name: upload
        events: [net_flow_tcp_end]
        condition: bytes_sent > 0
        threshold: {sum: bytes_sent, at_least: 1 GiB, window: 1h, group_by: [remote]}
        output: "{count} bytes to {remote} within {window}"
    """

  @Test func aSumOverConnectionsFiresOncePerWindow() throws {
    let rules = try engine(Self.upload)
    // Five 300 MiB uploads in ten minutes: over 1 GiB at the fourth.
    let raised = alerts(rules, (0..<5).map { i in (Int64(i) * 120 * Self.second, end(at: 0, sent: 300 << 20)) })
    #expect(raised.count == 1)
    #expect(raised.first?.count == 4 * (300 << 20))
    #expect(raised.first?.message.hasPrefix("1258291200 bytes to 203.0.113.5") == true)
  }

  @Test func theSameBytesSpreadPastTheWindowDoNotFire() throws {
    let rules = try engine(Self.upload)
    let raised = alerts(rules, (0..<8).map { i in (Int64(i) * 3_600 * Self.second, end(at: 0, sent: 300 << 20)) })
    #expect(raised.isEmpty)
  }

  @Test func sumsSaturateInsteadOfWrapping() {
    var aggregate = SlicedAggregate()
    _ = aggregate.add(.max - 5, at: 0, window: 10, keepingMaximum: false)
    #expect(aggregate.add(10, at: 1, window: 10, keepingMaximum: false) == .max)
    var largest = SlicedAggregate()
    _ = largest.add(7, at: 0, window: 10, keepingMaximum: true)
    #expect(largest.add(3, at: 5, window: 10, keepingMaximum: true) == 7)
    #expect(largest.add(3, at: 100, window: 10, keepingMaximum: true) == 3)
  }

  @Test func aMaxThresholdTakesTheLargestValue() throws {
    let rules = try engine(
      """
      - rule:
          id: M-1
          name: slow
          events: [net_flow_tcp_end]
          condition: conn_direction == outgoing
          threshold: {max: bytes_sent, at_least: 5000, window: 1m, group_by: [remote]}
      """)
    let raised = alerts(rules, [(0, end(at: 0, sent: 100)), (1, end(at: 1, sent: 6000)), (2, end(at: 2, sent: 10))])
    #expect(raised.count == 1)
  }

  @Test func aSumOfANonIntegerFieldIsAPositionedError() {
    let found = errors(
      """
      - rule:
          id: S-1
          name: upload
          condition: bytes_sent > 0
          threshold: {sum: process.comm, at_least: 1 GiB, window: 1h}
      """)
    #expect(found.count == 1)
    #expect(found.first?.line == 5 && found.first?.column == 22)
    #expect(found.first?.message.contains("integer field") == true)
  }

  @Test func aThresholdFromAListCanBeOverridden() throws {
    let text = """
      - list: {name: upload_limit, items: [2 KiB]}
      - rule:
          id: S-1
          name: upload
          events: [net_flow_tcp_end]
          condition: bytes_sent > 0
          threshold: {sum: bytes_sent, at_least: upload_limit, window: 1h, group_by: [remote]}
      """
    let rules = try RuleLoader.load(text: text, file: "b.yaml")
    #expect(rules.warnings.isEmpty)
    let raised = alerts(RuleEngine(rules: rules), [(0, end(at: 0, sent: 1024)), (1, end(at: 1, sent: 1024))])
    #expect(raised.count == 1)
  }
}

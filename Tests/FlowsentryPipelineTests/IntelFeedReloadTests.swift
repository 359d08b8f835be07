import FlowsentryCore
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Testing

/// Feeds are part of the rule chain: SIGHUP's off-pipeline reload reads a replaced feed, and a feed
/// that cannot be read leaves the running set in place.
@Suite struct IntelFeedReloadTests {
  static func connection(names: [String]) -> SensorEvent {
    .flow(
      FlowEvent(
        name: .netFlowTCPBegin, timestamp: 0, direction: .outgoing,
        source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("203.0.113.1")!, 443),
        destinationNames: names))
  }

  static func indicators(_ rules: RuleSet, _ name: String) -> [String] {
    let engine = RuleEngine(rules: rules)
    var alerts: [Alert] = []
    engine.process(connection(names: [name]), at: 0, into: &alerts)
    return alerts.compactMap { $0.indicator?.indicator }
  }

  @Test func aReplacedFeedIsReadByTheNextReloadAndAMissingOneKeepsTheRunningSet() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-intel-reload-\(UUID())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try """
    - list: {name: c2, type: domain, match: suffix, files: [feed.txt]}
    - rule: {id: T-INTEL, name: listed, condition: remote_dns in c2}
    """.write(toFile: directory + "/rules.yaml", atomically: true, encoding: .utf8)
    let feed = directory + "/feed.txt"
    try "old.example\n".write(toFile: feed, atomically: true, encoding: .utf8)
    let reloader = RuleReloader(chain: .init(builtIn: false, paths: [directory + "/rules.yaml"]))

    guard case .loaded = await reloader.reload(), let first = reloader.takePending() else {
      Issue.record("the first load failed")
      return
    }
    #expect(Self.indicators(first, "a.old.example") == ["old.example"])

    // The refresh job's atomic replacement.
    try "new.example\n".write(toFile: feed, atomically: true, encoding: .utf8)
    guard case .loaded = await reloader.reload(), let second = reloader.takePending() else {
      Issue.record("the reload failed")
      return
    }
    #expect(Self.indicators(second, "a.old.example").isEmpty)
    #expect(Self.indicators(second, "b.new.example") == ["new.example"])

    try FileManager.default.removeItem(atPath: feed)
    guard case .failed(let diagnostics) = await reloader.reload() else {
      Issue.record("a missing feed loaded")
      return
    }
    #expect(diagnostics.contains { $0.message.contains(feed) })
    #expect(reloader.takePending() == nil)
  }
}

import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// A rule set's `contains` lists are compiled into Hyperscan databases like its regexes, and cached
/// beside them under `state_dir/patterns`: a restart or a reload with the same lists loads them
/// (200,000 needles: 13 s to compile, a fraction of a second to load), the load says so, and the
/// running set's pruning keeps their files.
@Suite struct LiteralListCacheTests {
  static let rules = """
    - list: {name: markers, items: [evil, Tunnel, "x.y"]}
    - list: {name: tails, items: [.top, .zip]}
    - rule:
        id: T-LIT
        name: marked names
        condition: remote_dns icontains markers or remote_dns iendswith tails or process.comm contains markers
    """

  @Test func aRestartLoadsTheListDatabasesAndTheSetMatchesTheSame() throws {
    let state = FileManager.default.temporaryDirectory.appendingPathComponent("fs-litcache-\(UUID())")
    defer { try? FileManager.default.removeItem(at: state) }
    let first = try RuleLoader.load(text: Self.rules, file: "l.yaml")
    let built = first.preparePatterns(stateDirectory: state.path)
    // Two `contains` sets (one per field and folding); the `endswith` one is a trie, with no database.
    #expect(built.literalSets == 3 && built.literalDatabases == 2 && built.literalDatabasesFromCache == 0, "\(built)")
    #expect(built.literalDatabaseNeedles == 6)
    #expect(
      built.summary.hasPrefix("no regexes; 6 `contains` needles in 2 list databases, built in "), "\(built.summary)")
    let files = try FileManager.default.contentsOfDirectory(atPath: state.appendingPathComponent("patterns").path)
    #expect(files.filter { $0.hasSuffix(".hsdb") }.count == 2, "\(files)")
    #expect(first.patternCacheKeys?.count == 2)

    let second = try RuleLoader.load(text: Self.rules, file: "l.yaml")
    let loaded = second.preparePatterns(stateDirectory: state.path)
    #expect(loaded.literalDatabasesFromCache == 2 && loaded.cacheHits == 2 && loaded.cacheMisses == 0, "\(loaded)")
    #expect(loaded.summary.contains("list databases, loaded from the cache in "), "\(loaded.summary)")
    #expect(second.patternCacheKeys == first.patternCacheKeys)

    for (names, comm, fires) in [
      (["a.EVIL.example"], "curl", true), (["b.example.TOP"], "curl", true), (["x.example"], "x.yz", true),
      (["quiet.example"], "tunnel", false), (["quiet.example"], "evil", true),
    ] {
      var results: [Bool] = []
      for rules in [first, second] {
        let engine = RuleEngine(rules: rules)
        var alerts: [Alert] = []
        let event = SensorEvent.flow(
          FlowEvent(
            name: .netFlowTCPBegin, timestamp: 1, direction: .outgoing,
            source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("203.0.113.9")!, 443),
            destinationNames: names, process: ProcessIdentity(pid: 1, uid: 0, command: comm)))
        engine.process(event, at: 1, into: &alerts)
        results.append(!alerts.isEmpty)
      }
      #expect(results == [fires, fires], "\(names) \(comm)")
    }
  }

  /// With regexes too, the regex part and the lists' part are each said as they were built.
  @Test func theSummarySaysRegexesAndListsApart() throws {
    let state = FileManager.default.temporaryDirectory.appendingPathComponent("fs-litcache-\(UUID())")
    defer { try? FileManager.default.removeItem(at: state) }
    let text = Self.rules + "\n        or remote_dns matches 'mail[0-9]+\\.example'\n"
    _ = try RuleLoader.load(text: text, file: "l.yaml").preparePatterns(stateDirectory: state.path)
    let directory = state.appendingPathComponent("patterns")
    let outcome = try RuleLoader.load(text: text, file: "l.yaml").preparePatterns(stateDirectory: state.path)
    #expect(outcome.cacheHits == 3, "\(outcome)")
    #expect(outcome.summary.hasPrefix("1 regex in 1 field ("), "\(outcome.summary)")
    #expect(outcome.summary.contains("), loaded from the cache in "), "\(outcome.summary)")
    #expect(outcome.summary.contains("; 6 `contains` needles in 2 list databases, loaded from the cache in "))
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).count == 3)
  }
}

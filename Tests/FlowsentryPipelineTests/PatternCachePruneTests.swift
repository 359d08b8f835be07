import FlowsentryCore
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Testing

/// The monitor's reloader prunes `state_dir/patterns` to the set it takes to run: a rule edit no
/// longer leaves its old databases behind for ever, and a reload that fails leaves the running
/// set's files where they are.
@Suite struct PatternCachePruneTests {
  final class StateAndRules: Sendable {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("fs-prune-\(UUID().uuidString)").path
    var state: String { root + "/state" }
    var rules: String { root + "/rules.yaml" }
    var patterns: String { state + "/patterns" }

    init() throws { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: root) }

    func write(regex: String) throws {
      try "- rule:\n    id: T-1\n    name: one\n    condition: remote_dns matches '\(regex)'\n".write(
        toFile: rules, atomically: true, encoding: .utf8)
    }

    /// The cache files, by name.
    func files() throws -> [String] {
      try FileManager.default.contentsOfDirectory(atPath: patterns).filter { $0.hasSuffix(".hsdb") }.sorted()
    }

    /// Makes every cache file an hour old: past the grace that protects another process's files.
    func age() throws {
      for name in try files() {
        try FileManager.default.setAttributes(
          [.modificationDate: Date(timeIntervalSinceNow: -3_600)], ofItemAtPath: patterns + "/" + name)
      }
    }

    /// What the monitor's loader does: load the chain and build its pattern sets with the cache.
    func load() throws(RuleLoadError) -> RuleSet {
      let rules = try RuleLoader.loadChain(builtIn: false, paths: [rules])
      rules.preparePatterns(stateDirectory: state)
      return rules
    }
  }

  static func removed(_ reloader: RuleReloader) -> Double? {
    reloader.samples.first { $0.name == "flowsentry_rule_pattern_cache_files_removed_total" }?.value
  }

  @Test func eachSetTakenToRunRemovesTheFilesItDoesNotUse() async throws {
    let chain = try StateAndRules()
    // A database of rules long gone, left by an earlier run.
    try FileManager.default.createDirectory(atPath: chain.patterns, withIntermediateDirectories: true)
    let stale = String(repeating: "0", count: 64) + ".hsdb"
    try Data(repeating: 1, count: 64).write(to: URL(fileURLWithPath: chain.patterns + "/" + stale))
    try chain.age()
    try chain.write(regex: "evil\\.com$")
    let reloader = RuleReloader(
      chain: .init(builtIn: false, paths: [chain.rules]), patternCacheStateDirectory: chain.state
    ) { _ throws(RuleLoadError) in try chain.load() }

    // The monitor's first load does not build the sets itself: the reloader does, then prunes.
    let first = try #require(
      await reloader.loadFirst { try? RuleLoader.loadChain(builtIn: false, paths: [chain.rules]) })
    #expect(first.patternCachePruning?.removedFiles == 1, "\(String(describing: first.patternCachePruning))")
    let running = try chain.files()
    #expect(running.count == 1 && running != [stale], "\(running)")
    #expect(Self.removed(reloader) == 1)
    try chain.age()

    // A reload that does not validate keeps the running set, and its file.
    try "- rule: {id: T-1, name: one, condition: remote_dns matches}\n".write(
      toFile: chain.rules, atomically: true, encoding: .utf8)
    guard case .failed = await reloader.reload() else {
      Issue.record("a rule file that does not validate loaded")
      return
    }
    #expect(try chain.files() == running)

    // An edit: the new set's file is written, the old one (unused, an hour old) removed.
    try chain.write(regex: "evil\\.net$")
    guard case .loaded(let edited) = await reloader.reload() else {
      Issue.record("the edited rules did not load")
      return
    }
    let now = try chain.files()
    #expect(now.count == 1 && now != running, "\(now)")
    #expect(edited.patternCachePruning?.removedFiles == 1 && edited.patternCachePruning?.keptFiles == 1)
    #expect(Self.removed(reloader) == 2)
    let bytes = try FileManager.default.attributesOfItem(atPath: chain.patterns + "/" + now[0])[.size] as? Int
    #expect(
      reloader.samples.first { $0.name == "flowsentry_rule_pattern_cache_bytes" }?.value == bytes.map(Double.init))

    // Another edit while the last file is recent: the recent one stays (another process may have
    // just written it) until a later load finds it old.
    try chain.write(regex: "evil\\.org$")
    guard case .loaded(let again) = await reloader.reload() else {
      Issue.record("the edited rules did not load")
      return
    }
    #expect(again.patternCachePruning?.removedFiles == 0 && again.patternCachePruning?.recentFiles == 1)
    #expect(try chain.files().count == 2)
  }

  @Test func aSetNotPreparedWithTheCachePrunesNothing() throws {
    let chain = try StateAndRules()
    try chain.write(regex: "evil\\.com$")
    let rules = try RuleLoader.loadChain(builtIn: false, paths: [chain.rules])
    // Its files are unknown until its sets are built: nothing may be taken meanwhile.
    #expect(rules.prunePatternCache(stateDirectory: chain.state) == nil)
    rules.preparePatterns(stateDirectory: nil)
    #expect(rules.prunePatternCache(stateDirectory: chain.state) == nil)
  }
}

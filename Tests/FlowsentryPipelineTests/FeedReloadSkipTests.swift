import FlowsentryCore
import FlowsentryIntel
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Testing

/// A feed change that leaves every feed's bytes as the running set loaded them reloads nothing and
/// is counted as skipped; any other feed change, and every SIGHUP, reloads.
@Suite struct FeedReloadSkipTests {
  /// A rule file whose list reads `feeds/*.txt`, beside it in a scratch directory.
  final class Chain {
    let directory: String
    var rules: String { directory + "/rules.yaml" }
    var feed: String { directory + "/feeds/a.txt" }

    init() throws {
      directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-feed-skip-\(UUID())").path
      try FileManager.default.createDirectory(atPath: directory + "/feeds", withIntermediateDirectories: true)
      try """
      - list: {name: c2, type: domain, match: suffix, files: [feeds/*.txt]}
      - rule: {id: T-INTEL, name: listed, condition: remote_dns in c2}
      """.write(toFile: rules, atomically: true, encoding: .utf8)
      try replace("a.txt", "evil.example\n")
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// As the refresh job writes a feed: a temporary name, then rename(2) over it.
    func replace(_ name: String, _ text: String) throws {
      try text.write(toFile: directory + "/feeds/.\(name).tmp", atomically: false, encoding: .utf8)
      #expect(rename(directory + "/feeds/.\(name).tmp", directory + "/feeds/" + name) == 0)
    }

    func reloader() -> RuleReloader {
      RuleReloader(chain: .init(builtIn: false, paths: [rules]))
    }
  }

  static func value(_ reloader: RuleReloader, _ name: String, _ label: (String, String)) -> Double? {
    reloader.samples.first { $0.name == name && $0.labels.contains { $0 == label } }?.value
  }

  /// Makes `path` a feed no load can read: a link to a regular file whose first read fails (a glob
  /// skips anything but a regular file within the size limit, and the tests run as root, whom no
  /// mode keeps out). Reading /proc/self/mem at offset 0, which no process maps, is an I/O error.
  static func writeUnloadableFeed(_ path: String) throws {
    #expect(symlink("/proc/self/mem", path) == 0)
  }

  static func counts(_ reloader: RuleReloader) -> (feedChanges: Double?, skipped: Double?) {
    (
      value(reloader, "flowsentry_rule_reloads_total", ("cause", "feed_change")),
      value(reloader, "flowsentry_rule_reloads_skipped_total", ("reason", "feeds_unchanged"))
    )
  }

  static func indicators(_ reloader: RuleReloader) -> Int? {
    reloader.takePending()?.intelLists.first?.indicators
  }

  /// As the monitor's feed watch service does: the watcher's settled change, then the reloader.
  @Test func aRenameOfTheSameBytesIsSkippedAndCountedAndAChangedFeedReloads() async throws {
    let chain = try Chain()
    let reloader = chain.reloader()
    guard case .loaded = await reloader.reload(cause: .signal) else {
      Issue.record("the first load failed")
      return
    }
    #expect(Self.indicators(reloader) == 1)
    #expect(Self.counts(reloader) == (0, 0))

    let watcher = try FeedWatcher(patterns: [chain.directory + "/feeds/*.txt"], settle: .milliseconds(100))
    let (changes, continuation) = AsyncStream.makeStream(of: [String].self, bufferingPolicy: .bufferingNewest(1))
    watcher.start { paths in continuation.yield(paths) }
    defer { watcher.stop() }
    let timeout = Task {
      try await Task.sleep(for: .seconds(20))
      continuation.finish()
    }
    defer { timeout.cancel() }
    var iterator = changes.makeAsyncIterator()

    try chain.replace("a.txt", "evil.example\n")
    #expect(await iterator.next() == [chain.feed])
    guard case .feedsUnchanged(let files) = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("the same bytes renamed into place reloaded")
      return
    }
    #expect(files == 1)
    #expect(Self.counts(reloader) == (0, 1))
    #expect(reloader.takePending() == nil)

    try chain.replace("a.txt", "evil.example\nc2.example\n")
    #expect(await iterator.next() == [chain.feed])
    guard case .reloaded(.loaded) = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("a changed feed did not reload")
      return
    }
    #expect(Self.counts(reloader) == (1, 1))
    #expect(Self.indicators(reloader) == 2)

    // The reloaded set's bytes are now the running ones.
    try chain.replace("a.txt", "evil.example\nc2.example\n")
    #expect(await iterator.next() == [chain.feed])
    guard case .feedsUnchanged = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("the reloaded set's bytes renamed into place reloaded")
      return
    }
    #expect(Self.counts(reloader) == (1, 2))
  }

  @Test func aSighupReloadsWhenNoFeedChanged() async throws {
    let chain = try Chain()
    let reloader = chain.reloader()
    _ = await reloader.reload(cause: .signal)
    _ = reloader.takePending()
    guard case .loaded = await reloader.reload(cause: .signal) else {
      Issue.record("SIGHUP with unchanged feeds did not load")
      return
    }
    #expect(Self.value(reloader, "flowsentry_rule_reloads_total", ("cause", "signal")) == 2)
    #expect(Self.counts(reloader).skipped == 0)
  }

  @Test func theMonitorsFirstSetIsRecordedToo() async throws {
    let chain = try Chain()
    let reloader = chain.reloader()
    #expect(reloader.loadedFeeds == nil)
    // Before any set is recorded, a feed change cannot be compared: it reloads.
    guard case .reloaded(.loaded) = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("a feed change with nothing recorded did not reload")
      return
    }
    let reloaderAtStart = chain.reloader()
    let rules = chain.rules
    let first = await reloaderAtStart.loadFirst { try? RuleLoader.loadChain(builtIn: false, paths: [rules]) }
    #expect(first?.intelLists.first?.indicators == 1)
    #expect(reloaderAtStart.loadedFeeds?.files.count == 1)
    try chain.replace("a.txt", "evil.example\n")
    guard case .feedsUnchanged(1) = await reloaderAtStart.reloadUnlessFeedsUnchanged() else {
      Issue.record("the first set's bytes renamed into place reloaded")
      return
    }
  }

  /// A reload that fails leaves the running set, and with it the bytes a feed change is compared to.
  @Test func aFailedReloadKeepsTheRunningSetsFeeds() async throws {
    let chain = try Chain()
    try """
    - list: {name: c2, type: domain, match: suffix, files: [feeds/a.txt]}
    - rule: {id: T-INTEL, name: listed, condition: remote_dns in c2}
    """.write(toFile: chain.rules, atomically: true, encoding: .utf8)
    let reloader = chain.reloader()
    _ = await reloader.reload(cause: .signal)
    #expect(Self.indicators(reloader) == 1)

    try FileManager.default.removeItem(atPath: chain.feed)
    guard case .reloaded(.failed) = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("a feed that vanished did not fail the reload")
      return
    }
    try chain.replace("a.txt", "evil.example\n")
    guard case .feedsUnchanged = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("the running set's bytes back in place reloaded")
      return
    }
    // A new file under the glob of a set that names one path is no feed of it.
    try chain.replace("b.txt", "other.example\n")
    guard case .feedsUnchanged = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("a file no pattern names reloaded")
      return
    }
    #expect(Self.counts(reloader) == (1, 2))
  }

  @Test func aFileAddedUnderTheGlobReloads() async throws {
    let chain = try Chain()
    let reloader = chain.reloader()
    _ = await reloader.reload(cause: .signal)
    _ = reloader.takePending()
    try chain.replace("b.txt", "other.example\n")
    guard case .reloaded(.loaded) = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("a new feed under the glob did not reload")
      return
    }
    #expect(Self.indicators(reloader) == 2)
  }
}

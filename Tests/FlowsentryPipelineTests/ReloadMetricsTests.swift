import FlowsentryCore
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Testing

/// The monitor's reload and pause rows move: a feed replaced reloads through the watcher and counts
/// under its cause, and the longest batch is the longest recorded.
@Suite struct ReloadMetricsTests {
  static func value(_ samples: [MetricSample], _ name: String, cause: String? = nil) -> Double? {
    samples.first { $0.name == name && (cause == nil || $0.labels.contains { $0 == ("cause", cause!) }) }?.value
  }

  @Test func aFeedReplacedCountsOneReloadUnderFeedChange() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-reload-metrics-\(UUID())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try """
    - list: {name: c2, type: domain, match: suffix, files: [feed.txt]}
    - rule: {id: T-INTEL, name: listed, condition: remote_dns in c2}
    """.write(toFile: directory + "/rules.yaml", atomically: true, encoding: .utf8)
    try "old.example\n".write(toFile: directory + "/feed.txt", atomically: true, encoding: .utf8)
    let reloader = RuleReloader(chain: .init(builtIn: false, paths: [directory + "/rules.yaml"]))
    #expect(Self.value(reloader.samples, "flowsentry_rule_reloads_total", cause: "feed_change") == 0)
    #expect(Self.value(reloader.samples, "flowsentry_rule_reloads_total", cause: "signal") == 0)

    // As the monitor's feed watch service does: each settled change asks for a reload by its cause.
    let watcher = try FeedWatcher(patterns: [directory + "/feed.txt"], settle: .milliseconds(100))
    let (changes, continuation) = AsyncStream.makeStream(of: [String].self, bufferingPolicy: .bufferingNewest(1))
    watcher.start { paths in continuation.yield(paths) }
    defer { watcher.stop() }
    try "new.example\n".write(toFile: directory + "/.feed.tmp", atomically: false, encoding: .utf8)
    #expect(rename(directory + "/.feed.tmp", directory + "/feed.txt") == 0)
    let timeout = Task {
      try await Task.sleep(for: .seconds(10))
      continuation.finish()
    }
    var iterator = changes.makeAsyncIterator()
    let changed = await iterator.next()
    timeout.cancel()
    #expect(changed == [directory + "/feed.txt"])
    guard case .loaded = await reloader.reload(cause: .feedChange) else {
      Issue.record("the reload after the feed change failed")
      return
    }
    #expect(Self.value(reloader.samples, "flowsentry_rule_reloads_total", cause: "feed_change") == 1)
    #expect(Self.value(reloader.samples, "flowsentry_rule_reloads_total", cause: "signal") == 0)
    #expect(reloader.takePending()?.intelLists.first?.indicators == 1)

    _ = await reloader.reload(cause: .signal)
    #expect(Self.value(reloader.samples, "flowsentry_rule_reloads_total", cause: "signal") == 1)
  }

  /// A reload that leaves the running rules in place is counted by its cause, so that an operator
  /// can alert on a sensor stuck on older rules; one that loads is not.
  @Test func aReloadThatKeepsTheRunningRulesCountsAsFailed() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-reload-failed-\(UUID())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let rules = directory + "/rules.yaml"
    try "- rule: {id: T-1, name: one, condition: remote_port == 4444}\n".write(
      toFile: rules, atomically: true, encoding: .utf8)
    let reloader = RuleReloader(chain: .init(builtIn: false, paths: [rules]))
    func failures(_ cause: String) -> Double? {
      Self.value(reloader.samples, "flowsentry_rule_reload_failures_total", cause: cause)
    }
    #expect(failures("signal") == 0 && failures("feed_change") == 0)
    guard case .loaded = await reloader.reload(cause: .signal) else {
      Issue.record("the first load failed")
      return
    }
    #expect(failures("signal") == 0)
    try "- rule: {id: T-1, name: one, condition: remote_port === 4444}\n".write(
      toFile: rules, atomically: true, encoding: .utf8)
    guard case .failed = await reloader.reloadAfterTheRunningOne(cause: .signal) else {
      Issue.record("a rule file that does not validate loaded")
      return
    }
    #expect(failures("signal") == 1 && failures("feed_change") == 0)
    guard case .failed = await reloader.reload(cause: .feedChange) else {
      Issue.record("a rule file that does not validate loaded")
      return
    }
    #expect(failures("signal") == 1 && failures("feed_change") == 1)
    #expect(Self.value(reloader.samples, "flowsentry_rule_reloads_total", cause: "signal") == 2)
  }

  /// The feed watch's own path: a changed feed whose reload does not validate, and the periodic
  /// check's, count under feed_change; a change of nothing counts nothing.
  @Test func aFeedChangeThatDoesNotLoadCountsAsFailed() async throws {
    let chain = try FeedReloadSkipTests.Chain()
    let reloader = chain.reloader()
    func failures() -> Double? {
      Self.value(reloader.samples, "flowsentry_rule_reload_failures_total", cause: "feed_change")
    }
    guard case .loaded = await reloader.reload(cause: .signal) else {
      Issue.record("the first load failed")
      return
    }
    _ = reloader.takePending()
    guard case .feedsUnchanged = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("the same feed reloaded")
      return
    }
    #expect(failures() == 0)
    try
      "- list: {name: c2, type: domain, match: suffix, files: [feeds/*.txt]}\n- rule: {id: T-INTEL, name: listed, condition: remote_dns in c3}\n"
      .write(toFile: chain.rules, atomically: true, encoding: .utf8)
    try chain.replace("a.txt", "other.example\n")
    guard case .reloaded(.failed) = await reloader.reloadUnlessFeedsUnchanged() else {
      Issue.record("a feed change with rules that do not validate loaded")
      return
    }
    #expect(failures() == 1)
    try chain.replace("a.txt", "third.example\n")
    guard case .reloaded(.failed) = await reloader.checkFeeds() else {
      Issue.record("the periodic check did not load the changed feed")
      return
    }
    #expect(failures() == 2)
    #expect(Self.value(reloader.samples, "flowsentry_rule_reload_failures_total", cause: "signal") == 0)
  }

  @Test func theLongestBatchIsKept() {
    let pauses = BatchPauses()
    #expect(Self.value(pauses.samples, "flowsentry_pipeline_batch_max_seconds") == 0)
    for nanoseconds: Int64 in [3_000_000, 42_000_000, 10_000_000, -5] { pauses.record(nanoseconds: nanoseconds) }
    #expect(pauses.longestNanoseconds == 42_000_000)
    #expect(Self.value(pauses.samples, "flowsentry_pipeline_batch_max_seconds") == 0.042)
  }
}

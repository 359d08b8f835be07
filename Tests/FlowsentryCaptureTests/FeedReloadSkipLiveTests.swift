import FlowsentryCore
import Foundation
import Testing

/// A running monitor given a feed refresh: the same bytes renamed into place reload nothing (the
/// skip is logged and counted on /metrics), changed bytes reload the rules.
@Suite(.serialized, .requires(.root, .cgroup2, .curl))
struct FeedReloadSkipLiveTests {
  @Test func aRefreshOfTheSameBytesIsSkippedAndAChangedFeedReloads() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-feed-skip-live-\(getpid())").path
    try FileManager.default.createDirectory(atPath: directory + "/feeds", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try """
    - list: {name: c2, type: domain, match: suffix, files: [feeds/*.domains.txt]}
    - rule: {id: T-FEED, name: listed, condition: remote_dns in c2}
    """.write(toFile: directory + "/rules.yaml", atomically: true, encoding: .utf8)
    /// As the shipped refresh job writes a feed: a temporary name, then rename(2) over it.
    func refresh(_ text: String) throws {
      try text.write(toFile: directory + "/feeds/.a.tmp", atomically: false, encoding: .utf8)
      #expect(rename(directory + "/feeds/.a.tmp", directory + "/feeds/a.domains.txt") == 0)
    }
    try refresh("evil.example\n")

    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let monitor = try await MonitorProcess.attached(
      to: cgroup,
      [
        "--no-default-rules", "--rules", directory + "/rules.yaml", "--events", "none", "--metrics-address",
        "127.0.0.1:0",
      ]
    )
    defer { monitor.kill() }
    try await monitor.waitForStderr("metrics on http://", timeout: .seconds(5))
    let announced = try #require(
      monitor.stderr.split(separator: "\n").first { $0.contains("metrics on http://127.0.0.1:") })
    let address = try #require(announced.split(separator: "http://").last?.split(separator: "/").first)
    func counts() throws -> (reloads: Double?, skipped: Double?) {
      let metrics = MetricsLines(try run("/usr/bin/curl", ["-sf", "http://\(address)/metrics"]))
      return (
        metrics.value("flowsentry_rule_reloads_total{cause=\"feed_change\"}"),
        metrics.value("flowsentry_rule_reloads_skipped_total{reason=\"feeds_unchanged\"}")
      )
    }
    #expect(try counts() == (0, 0))

    try refresh("evil.example\n")
    try await monitor.waitForStderr("feeds unchanged; keeping the running rules", occurrences: 1)
    #expect(try counts() == (0, 1))
    #expect(!monitor.stderr.contains("rules reloaded"), "\(monitor.stderr)")
    // Nothing loaded, so no start was said.
    #expect(!monitor.stderr.contains("reloading rules"), "\(monitor.stderr)")

    try refresh("evil.example\nc2.example\n")
    try await monitor.waitForStderr("rules reloaded (feed event", occurrences: 1)
    #expect(try counts() == (1, 1))
    #expect(monitor.stderr.contains("2 indicators"), "\(monitor.stderr)")
    // Its start came first, naming the file that changed.
    #expect(
      monitor.stderrOrder(["reloading rules (feed event", "rules reloaded (feed event"]) == [
        "reloading rules (feed event", "rules reloaded (feed event",
      ], "\(monitor.stderr)")
    let start = monitor.logRecords().compactMap { $0["message"] as? String }.first { $0.hasPrefix("reloading rules") }
    #expect(start?.contains("/feeds/a.domains.txt") == true, "\(monitor.stderr)")

    monitor.signal(SIGTERM)
    #expect(try await monitor.exitStatus() == 0)
  }
}

import FlowsentryCore
import FlowsentryTestSupport
import Foundation
import Testing

@testable import FlowsentryRules

/// `flowsentry rules check` on a rule file with a feed: per-list statistics on stdout, each
/// malformed feed line as a positioned warning on stderr, and success.
@Suite struct RulesCheckIntelTests {
  @Test func rulesCheckPrintsListStatisticsAndMalformedLinesWithPositions() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-check-intel-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let feed = directory.appendingPathComponent("hosts.txt")
    try "# feed\nevil.example\nEVIL.example.\nbad_name!\n203.0.113.0/24\n".write(
      to: feed, atomically: true, encoding: .utf8)
    let rules = directory.appendingPathComponent("rules.yaml")
    try """
    - list: {name: c2, type: domain, match: suffix, files: [hosts.txt]}
    - rule: {id: T-1, name: t, condition: remote_dns in c2}
    """.write(to: rules, atomically: true, encoding: .utf8)
    let result = try ChildProcess.run(
      RulesCommandExitTests.binary, ["rules", "check", "--no-default-rules", rules.path])
    let (stdout, stderr) = (result.stdout, result.stderr)
    #expect(result.termination == .exited(0), "\(stderr)")
    #expect(
      stdout.contains(
        "list c2 (domain, suffix) at \(rules.path):1:9: 1 indicator, 1 duplicate, 2 malformed lines, 1 file,"),
      "\(stdout)")
    #expect(stdout.contains("\n1 file, 1 rule (1 enabled), 0 regexes, 2 warnings: OK"), "\(stdout)")
    #expect(stderr.contains("\(feed.path):4:1: warning: list 'c2'"), "\(stderr)")
    #expect(stderr.contains("\(feed.path):5:1: warning: list 'c2'"), "\(stderr)")
  }

  /// A count of one is printed with its noun in the singular (`1 indicators` was), any other in the plural.
  @Test func aListSummarySaysOneInTheSingular() {
    func summary(_ count: Int) -> String {
      var summary = IntelListSummary(name: "c2", type: "address", match: "exact", location: "r.yaml:1:9")
      summary.indicators = count
      summary.duplicates = count
      summary.malformed = count
      summary.skippedTypes = ["Intel::URL": count]
      summary.skipped = count
      summary.broadBlocks = count
      summary.hostsFileLabels = count
      summary.feedSourcesPastLimit = count
      summary.files = count
      summary.memoryBytes = count
      return summary.description
    }
    let past = "with a meta.source past 4096 distinct ones attributed to"
    #expect(
      summary(1)
        == "list c2 (address) at r.yaml:1:9: 1 indicator, 1 duplicate, 1 malformed line, 1 line of another type "
        + "skipped (Intel::URL 1), 1 broad block, 1 single label of hosts-file lines skipped, 1 line \(past) its "
        + "file, 1 file, 1 byte")
    #expect(
      summary(2)
        == "list c2 (address) at r.yaml:1:9: 2 indicators, 2 duplicates, 2 malformed lines, 2 lines of other types "
        + "skipped (Intel::URL 2), 2 broad blocks, 2 single labels of hosts-file lines skipped, 2 lines \(past) "
        + "their file, 2 files, 2 bytes")
    #expect([0, 1, 2].map { counted($0, "regex", "regexes") } == ["0 regexes", "1 regex", "2 regexes"])
  }
}

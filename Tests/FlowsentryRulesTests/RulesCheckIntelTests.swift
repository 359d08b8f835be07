import FlowsentryTestSupport
import Foundation
import Testing

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
      stdout.contains("list c2 (domain, suffix) at \(rules.path):1:9: 1 indicators, 1 duplicates, 2 malformed lines"))
    #expect(stderr.contains("\(feed.path):4:1: warning: list 'c2'"), "\(stderr)")
    #expect(stderr.contains("\(feed.path):5:1: warning: list 'c2'"), "\(stderr)")
  }
}

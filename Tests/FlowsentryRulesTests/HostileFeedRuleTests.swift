import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// A rule file's glob over feeds skips what is not a regular file with a warning; a stray FIFO beside
/// good feeds refused the whole rule set, even with `optional: true`.
@Suite struct IntelGlobSkipTests {
  @Test func aGlobLoadsItsGoodFeedsAndWarnsOfEachStray() throws {
    let directory = try RuleIntelListTests.Directory(["feeds/a.txt": "evil.example\n"])
    defer { directory.remove() }
    let feeds = directory.path + "/feeds"
    try #require(mkfifo(feeds + "/b.txt", 0o600) == 0)
    try #require(mkdir(feeds + "/c.txt", 0o700) == 0)
    try #require(symlink(feeds + "/missing", feeds + "/d.txt") == 0)
    let rules = try RuleIntelListTests.load(
      directory,
      RuleIntelListTests.rules(
        "- list: {name: c2, type: domain, optional: true, files: [feeds/*.txt]}", condition: "remote_dns in c2"))
    #expect(rules.intelLists.first?.indicators == 1)
    let skipped = rules.warnings.filter { $0.message.contains("not a regular file") }
    #expect(skipped.count == 3, "\(rules.warnings)")
    for (file, kind) in [("b.txt", "a FIFO"), ("c.txt", "a directory"), ("d.txt", "a dangling symbolic link")] {
      #expect(
        skipped.contains {
          $0.message == "list 'c2': skipped \(feeds)/\(file), matched by 'feeds/*.txt': \(kind), not a regular file"
            && $0.line == 1 && $0.column == 58
        }, "\(skipped)")
    }
    let alerts = RuleIntelListTests.alerts(
      rules, [RuleIntelListTests.connection(to: "203.0.113.1", names: ["evil.example"])])
    #expect(alerts.count == 1)
  }

  @Test func aFIFONamedLiterallyIsStillAnError() throws {
    let directory = try RuleIntelListTests.Directory(["feeds/a.txt": "evil.example\n"])
    defer { directory.remove() }
    try #require(mkfifo(directory.path + "/feeds/b.txt", 0o600) == 0)
    let errors = try RuleIntelListTests.errors(
      directory,
      RuleIntelListTests.rules(
        "- list: {name: c2, type: domain, optional: true, files: [feeds/a.txt, feeds/b.txt]}",
        condition: "remote_dns in c2"))
    #expect(
      errors.contains { $0.message.contains("feeds/b.txt") && $0.message.contains("not a regular file (a FIFO)") })
  }
}

/// `rules check`'s summary of a list prints the Zeek types it skipped as the feed named them, escaped.
@Suite struct SkippedTypeSummaryTests {
  @Test func aSkippedTypeNamePrintsEscaped() throws {
    let feed = "#fields\tindicator\tindicator_type\n1.2.3.4\tIntel::\u{1B}[2JADDR\n203.0.113.9\tIntel::ADDR\n"
    let directory = try RuleIntelListTests.Directory(["feed.intel": feed])
    defer { directory.remove() }
    let rules = try RuleIntelListTests.load(
      directory,
      RuleIntelListTests.rules(
        "- list: {name: c2, type: address, format: zeek-intel, files: [feed.intel]}", condition: "remote in c2"))
    let summary = try #require(rules.intelLists.first).description
    #expect(summary.contains("1 line of another type skipped (Intel::\\u{1B}[2JADDR 1)"), "\(summary)")
    #expect(!summary.unicodeScalars.contains { TerminalText.isUnsafe($0) })
  }
}

import FlowsentryCore
import FlowsentryIntel
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

  /// A stray file past the feed size limit in a globbed directory failed the load: the monitor did
  /// not start, and a reload kept the running rules. Now skipped, said with its size and the limit,
  /// counted in the summary and its metric; named literally it is still an error.
  @Test func aGlobSkipsAFilePastTheSizeLimitWithItsSize() throws {
    let directory = try RuleIntelListTests.Directory(["feeds/a.txt": "evil.example\n", "feeds/b.txt": "x.example\n"])
    defer { directory.remove() }
    let feeds = directory.path + "/feeds"
    let size = IntelLimits.maximumFeedFileBytes + 1
    try #require(truncate(feeds + "/b.txt", off_t(size)) == 0)
    let rules = try RuleIntelListTests.load(
      directory,
      RuleIntelListTests.rules("- list: {name: c2, type: domain, files: [feeds/*.txt]}", condition: "remote_dns in c2"))
    let list = try #require(rules.intelLists.first)
    #expect(list.indicators == 1 && list.files == 1 && list.skippedFiles == 1)
    #expect(list.description.contains("1 file (1 path skipped)"), "\(list.description)")
    #expect(
      IntelListSummary.samples([list]).contains { $0.name == "flowsentry_intel_list_skipped_files" && $0.value == 1 })
    let skipped = rules.warnings.filter { $0.message.contains("b.txt") }
    #expect(
      skipped.map(\.message) == [
        "list 'c2': skipped \(feeds)/b.txt, matched by 'feeds/*.txt': \(size) bytes, over the feed size limit of "
          + "\(IntelLimits.maximumFeedFileBytes) bytes"
      ], "\(rules.warnings)")
    #expect(skipped.allSatisfy { ($0.line, $0.column) == (1, 42) }, "\(skipped)")

    let errors = try RuleIntelListTests.errors(
      directory,
      RuleIntelListTests.rules(
        "- list: {name: c2, type: domain, files: [feeds/a.txt, feeds/b.txt]}", condition: "remote_dns in c2"))
    #expect(
      errors.map(\.message) == [
        "list 'c2': cannot read feed \(feeds)/b.txt: \(size) bytes, over the limit of "
          + "\(IntelLimits.maximumFeedFileBytes) bytes"
      ], "\(errors)")
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

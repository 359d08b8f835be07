import FlowsentryCore
import FlowsentryIntel
import Foundation
import Testing

@testable import FlowsentryRules

/// A feed replaced by an error page, an empty file or a download cut short: said at load for the
/// file, and at a reload for a list that lost most of its indicators.
@Suite struct FeedLossWarningTests {
  typealias Directory = RuleIntelListTests.Directory

  static let rules = """
    - list: {name: c2, type: address, files: [feeds/*.ip.txt]}
    - list: {name: zeek_c2, type: address, files: [feeds/*.intel], format: zeek-intel}
    - rule: {id: T-1, name: listed, condition: remote in c2 or remote in zeek_c2}

    """
  static let errorPage = "<html>\n<head><title>503 Service Unavailable</title></head>\n</html>\n"

  func load(_ directory: Directory) throws -> RuleSet {
    try RuleLoader.load(paths: [directory.path + "/rules.yaml"])
  }

  @Test func aFeedThatAddsNoIndicatorIsAWarningAtItsFilesItem() throws {
    let directory = try Directory([
      "rules.yaml": Self.rules, "feeds/a.ip.txt": "203.0.113.9\n", "feeds/b.ip.txt": Self.errorPage,
      "feeds/c.ip.txt": "# nothing today\n", "feeds/d.ip.txt": "", "feeds/f.ip.txt": "# one line\nnot-an-address\n",
      // Domains only: nothing for an address list, and not a feed gone wrong either.
      "feeds/e.intel": "#fields\tindicator\tindicator_type\nevil.example\tIntel::DOMAIN\n",
    ])
    defer { directory.remove() }
    let rules = try load(directory)
    let lost = rules.warnings.filter { $0.message.contains("adds no indicator") }
    #expect(
      lost.map(\.message) == [
        "list 'c2': feed \(directory.path)/feeds/b.ip.txt adds no indicator: all 3 of its lines that are not comments are malformed",
        "list 'c2': feed \(directory.path)/feeds/c.ip.txt adds no indicator: it is empty or comments only",
        "list 'c2': feed \(directory.path)/feeds/d.ip.txt adds no indicator: it is empty or comments only",
        "list 'c2': feed \(directory.path)/feeds/f.ip.txt adds no indicator: its one line that is not a comment is malformed",
      ], "\(rules.warnings)")
    #expect(lost.allSatisfy { ($0.file, $0.line, $0.column) == (directory.path + "/rules.yaml", 1, 43) }, "\(lost)")
    #expect(rules.intelLists.first { $0.name == "c2" }?.indicators == 1)
  }

  /// A glob that is not the first `files:` item: its feed's warning and error were put at the
  /// first item's column, since a glob never equals the path it matched.
  @Test func aGlobbedFeedIsPositionedAtItsOwnFilesItem() throws {
    let list =
      "- list: {name: c2, type: address, files: [good.txt, g/*.txt]}\n"
      + "- rule: {id: T-1, name: listed, condition: remote in c2}\n"
    let directory = try Directory([
      "rules.yaml": list, "good.txt": "203.0.113.9\n",
      "g/empty.txt": "",
    ])
    defer { directory.remove() }
    let rules = try load(directory)
    let lost = try #require(rules.warnings.first { $0.message.contains("adds no indicator") })
    #expect(lost.message.contains("g/empty.txt"), "\(lost)")
    #expect((lost.line, lost.column) == (1, 53), "\(lost)")
    // Over the size limit (sparse): skipped unread, with a warning at the glob's column too.
    #expect(truncate(directory.path + "/g/empty.txt", off_t(IntelLimits.maximumFeedFileBytes) + 1) == 0)
    let oversized = try load(directory).warnings.filter { $0.message.contains("over the feed size limit") }
    #expect(oversized.count == 1 && oversized.allSatisfy { ($0.line, $0.column) == (1, 53) }, "\(oversized)")
    // A file whose read fails (an I/O error: nothing maps offset 0 of /proc/self/mem): an error there.
    try FileManager.default.removeItem(atPath: directory.path + "/g/empty.txt")
    try #require(symlink("/proc/self/mem", directory.path + "/g/empty.txt") == 0)
    let errors = try RuleIntelListTests.errors(directory, list)
    let unreadable = try #require(errors.first { $0.message.contains("cannot read feed") }, "\(errors)")
    #expect(unreadable.message.contains("g/empty.txt"), "\(unreadable)")
    #expect((unreadable.line, unreadable.column) == (1, 53), "\(unreadable)")
  }

  /// 110 empty feeds, 110 FIFOs and 110 malformed lines beside a good feed: a warning each was
  /// unbounded output on every load; now the first `IntelLimits.warningsShownPerKind` of each kind,
  /// then one with how many in all. Paths and feeds were cut at 20 while lines were at 100.
  @Test func perFileWarningsAreBoundedWithACount() throws {
    let shown = IntelLimits.warningsShownPerKind
    #expect(shown == 100)
    let count = shown + 10
    var files = [
      "rules.yaml": Self.rules,
      "feeds/a.ip.txt": "203.0.113.9\n" + String(repeating: "not-an-address\n", count: count),
    ]
    for number in 0..<count { files["feeds/empty\(number).ip.txt"] = "" }
    let directory = try Directory(files)
    defer { directory.remove() }
    for number in 0..<count { try #require(mkfifo(directory.path + "/feeds/fifo\(number).ip.txt", 0o600) == 0) }
    let rules = try load(directory)
    let lost = rules.warnings.filter { $0.message.contains("adds no indicator") }
    let skipped = rules.warnings.filter { $0.message.contains("not a regular file") }
    let malformed = rules.warnings.filter { $0.message.hasSuffix("(line skipped)") }
    #expect(lost.count == shown && skipped.count == shown, "\(lost.count) \(skipped.count)")
    #expect(malformed.count == shown, "\(malformed.count)")
    let counts = rules.warnings.filter { $0.message.hasSuffix("the first \(shown) are shown") }.map(\.message)
    #expect(
      counts == [
        "list 'c2': \(count) paths that are not regular files or are past the size limit skipped in all; "
          + "the first \(shown) are shown",
        "list 'c2': \(count) feeds add no indicator in all; the first \(shown) are shown",
        "list 'c2': \(count) malformed lines skipped in all; the first \(shown) are shown",
      ], "\(counts)")
    #expect(rules.intelLists.first { $0.name == "c2" }?.indicators == 1)
  }

  @Test(arguments: [
    (10, 4, true), (10, 5, false), (10, 0, true), (1, 0, true), (0, 0, false), (3, 1, true), (3, 2, false),
    (10, 20, false),
  ])
  func aListShrinksWhenItLosesMoreThanHalf(before: Int, after: Int, shrunk: Bool) {
    #expect(IntelListSummary.hasShrunk(from: before, to: after) == shrunk)
  }

  @Test func aReloadThatEmptiesAListWarnsWithItsCountsAndFiles() throws {
    let directory = try Directory([
      "rules.yaml": Self.rules, "feeds/a.ip.txt": "203.0.113.9\n203.0.113.10\n198.51.100.0/24\n",
      "feeds/z.intel": "#fields\tindicator\tindicator_type\n203.0.113.99\tIntel::ADDR\n",
    ])
    defer { directory.remove() }
    let running = try load(directory)
    #expect(running.warningsForShrunkLists(comparedWith: running.intelLists).isEmpty)
    try Self.errorPage.write(toFile: directory.path + "/feeds/a.ip.txt", atomically: true, encoding: .utf8)
    let reloaded = try load(directory)
    let warnings = reloaded.warningsForShrunkLists(comparedWith: running.intelLists)
    let warning = try #require(warnings.first)
    #expect(warnings.count == 1, "\(warnings)")
    #expect(warning.severity == .warning)
    #expect((warning.file, warning.line, warning.column) == (directory.path + "/rules.yaml", 1, 9))
    #expect(
      warning.message.hasPrefix(
        "list 'c2' holds 0 indicators after this reload, 3 before (files: \(directory.path)/feeds/*.ip.txt)"),
      "\(warning.message)")
    // A list that is gone (a rule edit) is not compared.
    #expect(RuleSet.empty.warningsForShrunkLists(comparedWith: running.intelLists).isEmpty)
  }
}

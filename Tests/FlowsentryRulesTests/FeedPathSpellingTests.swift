import FlowsentryCore
import FlowsentryIntel
import Foundation
import Testing

@testable import FlowsentryRules

/// A feed's path as alerts, `rules check`, a reload's comparison and the feed watch spell it: a `.`
/// segment is dropped (it names its own directory whatever links lead there), a `..` kept as
/// written (after a symbolic link it is the link target's parent, which a lexical removal would miss).
@Suite struct FeedPathSpellingTests {
  @Test func dotSegmentsAreDroppedAndParentSegmentsKept() {
    #expect(
      IntelListLoader.resolve("./feeds/a.txt", in: "/etc/flowsentry/rules.d") == "/etc/flowsentry/rules.d/feeds/a.txt")
    #expect(IntelListLoader.resolve("feeds/./*.txt", in: "./rules") == "rules/feeds/*.txt")
    #expect(IntelListLoader.resolve("/etc/./intel/./a.txt", in: "rules") == "/etc/intel/a.txt")
    #expect(IntelListLoader.resolve("../intel/a.txt", in: "rules.d") == "rules.d/../intel/a.txt")
    #expect(IntelListLoader.resolve("./a.txt", in: "") == "a.txt")
    #expect(IntelListLoader.resolve("a/.", in: "") == "a/.")
    #expect(IntelListLoader.resolve("./", in: "") == "./")
  }

  /// `..` after a link: the lexical spelling would name another file than the one read.
  @Test func aParentSegmentAfterALinkIsTheTargetsParent() throws {
    let directory = try RuleIntelListTests.Directory([
      "real/rules/.keep": "", "real/intel/a.txt": "evil.example\n", "intel/a.txt": "other.example\n",
    ])
    defer { directory.remove() }
    try #require(symlink(directory.path + "/real/rules", directory.path + "/rules.d") == 0)
    let rules = try RuleLoader.load(
      text: RuleIntelListTests.rules(
        "- list: {name: c2, type: domain, files: [../intel/a.txt]}", condition: "remote_dns in c2"),
      file: directory.path + "/rules.d/rules.yaml")
    let list = try #require(rules.intelLists.first)
    #expect(list.filePatterns == [directory.path + "/rules.d/../intel/a.txt"])
    let alerts = RuleIntelListTests.alerts(
      rules, [RuleIntelListTests.connection(to: "203.0.113.1", names: ["evil.example"])])
    #expect(alerts.first?.indicator?.source == directory.path + "/rules.d/../intel/a.txt:1", "\(alerts)")
  }

  @Test func alertsAndRulesCheckShowThePathWithoutDotSegments() throws {
    let directory = try RuleIntelListTests.Directory(["feeds/a.txt": "evil.example\n", "feeds/b.txt": "bad.example\n"])
    defer { directory.remove() }
    let rules = try RuleIntelListTests.load(
      directory,
      RuleIntelListTests.rules(
        "- list: {name: c2, type: domain, files: [./feeds/a.txt, feeds/./b*.txt]}", condition: "remote_dns in c2"))
    let list = try #require(rules.intelLists.first)
    #expect(list.filePatterns == [directory.path + "/feeds/a.txt", directory.path + "/feeds/b*.txt"])
    let alerts = RuleIntelListTests.alerts(
      rules,
      [
        RuleIntelListTests.connection(to: "203.0.113.1", names: ["evil.example"]),
        RuleIntelListTests.connection(to: "203.0.113.2", names: ["bad.example"], at: 1),
      ])
    #expect(
      alerts.compactMap(\.indicator?.source) == [directory.path + "/feeds/a.txt:1", directory.path + "/feeds/b.txt:1"],
      "\(alerts)")
  }
}

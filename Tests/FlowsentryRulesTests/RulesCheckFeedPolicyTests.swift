import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// What `rules check` says of feed entries that parse but do harm: single labels and addresses in
/// domain lists (skipped, positioned), broad address blocks (kept, positioned), and Zeek lines of
/// other types (counted by type, so that a misspelt type shows).
@Suite struct RulesCheckFeedPolicyTests {
  typealias Directory = RuleIntelListTests.Directory

  static func load(_ directory: Directory, _ lists: String) throws -> RuleSet {
    try RuleIntelListTests.load(
      directory, RuleIntelListTests.rules(lists, condition: "remote_dns in names or remote in addresses"))
  }

  static let addresses = "- list: {name: addresses, type: address, items: [192.0.2.254]}"

  @Test func aFeedsSingleLabelsAndAddressesAreSkippedWithPositionedWarnings() throws {
    let hosts = "127.0.0.1 localhost\ncom\n127.0.0.1 evil.example\n1.2.3.4\n"
    let directory = try Directory(["intel/hosts.txt": hosts])
    defer { directory.remove() }
    let rules = try Self.load(
      directory,
      """
      - list: {name: names, type: domain, match: suffix, files: [intel/hosts.txt]}
      \(Self.addresses)
      """)
    let feed = directory.path + "/intel/hosts.txt"
    let warnings = rules.warnings.filter { $0.file == feed }
    // The hosts-file header's `localhost` is counted apart, without a warning.
    #expect(warnings.map { [$0.line, $0.column] } == [[2, 1], [4, 1]])
    try #require(warnings.count == 2)
    #expect(warnings.allSatisfy { $0.message.hasPrefix("list 'names': ") && $0.message.hasSuffix("(line skipped)") })
    #expect(warnings[0].message.contains("top-level domain"))
    #expect(warnings[1].message.contains("address list"))
    #expect(rules.intelLists.first { $0.name == "names" }?.malformed == 2)
    #expect(rules.intelLists.first { $0.name == "names" }?.hostsFileLabels == 1)
    #expect(
      rules.intelLists.first { $0.name == "names" }?.description.contains("1 single label of hosts-file lines skipped")
        == true)
    #expect(rules.intelLists.first { $0.name == "names" }?.indicators == 1)
    let alerts = RuleIntelListTests.alerts(
      rules, [RuleIntelListTests.connection(to: "203.0.113.1", names: ["innocent.com"])])
    #expect(alerts.isEmpty)
  }

  @Test func inlineItemsMayBeSingleLabelsButNotAddresses() throws {
    let directory = try Directory([:])
    defer { directory.remove() }
    let rules = try Self.load(
      directory, "- list: {name: names, type: domain, match: suffix, items: [zip]}\n\(Self.addresses)")
    #expect(rules.warnings.isEmpty)
    #expect(
      RuleIntelListTests.alerts(rules, [RuleIntelListTests.connection(to: "203.0.113.1", names: ["x.zip"])]).count
        == 1)

    let errors = try RuleIntelListTests.errors(
      directory,
      RuleIntelListTests.rules(
        "- list: {name: names, type: domain, items: [ok.example, 1.2.3.4]}\n\(Self.addresses)",
        condition: "remote_dns in names or remote in addresses"))
    #expect(errors.count == 1)
    #expect(errors.first?.line == 1)
    #expect(errors.first?.message.contains("address list") == true)
  }

  @Test func broadBlocksAreKeptWithPositionedWarnings() throws {
    let directory = try Directory(["intel/drop.txt": "203.0.113.0/24\n::ffff:0:0/96\n"])
    defer { directory.remove() }
    let rules = try Self.load(
      directory,
      """
      - list: {name: names, type: domain, items: [evil.example]}
      - list: {name: addresses, type: address, items: [0.0.0.0/1], files: [intel/drop.txt]}
      """)
    let feed = directory.path + "/intel/drop.txt"
    let fromFeed = try #require(rules.warnings.first { $0.file == feed })
    #expect(fromFeed.line == 2 && fromFeed.column == 1)
    #expect(fromFeed.message.hasPrefix("list 'addresses': '::ffff:0:0/96' (0.0.0.0/0)"))
    #expect(!fromFeed.message.contains("skipped"))
    let inline = try #require(rules.warnings.first { $0.message.contains("'0.0.0.0/1'") })
    #expect(inline.line == 2 && inline.file.hasSuffix("rules.yaml"))
    let summary = try #require(rules.intelLists.first { $0.name == "addresses" })
    #expect(summary.broadBlocks == 2)
    #expect(summary.malformed == 0)
    #expect(summary.description.contains(", 2 broad blocks"))
    // Kept: every IPv4 peer matches, as the feed said.
    let alert = RuleIntelListTests.alerts(rules, [RuleIntelListTests.connection(to: "192.0.2.9")]).first
    #expect(alert?.indicator?.indicator == "0.0.0.0/0")
  }

  @Test func zeekLinesOfOtherTypesAreListedByType() throws {
    let zeek = """
      #fields\tindicator\tindicator_type\tmeta.source
      c2.example\tIntel::DOMAIN\tacme
      http://a.example/x\tIntel::URL\tacme
      http://b.example/y\tIntel::URL\tacme
      typo.example\tIntel::DOMIAN\tacme
      203.0.113.9\tIntel::ADDR\tacme

      """
    let directory = try Directory(["acme.intel": zeek])
    defer { directory.remove() }
    let rules = try Self.load(
      directory,
      """
      - list: {name: names, type: domain, files: [acme.intel], format: zeek-intel}
      \(Self.addresses)
      """)
    let summary = try #require(rules.intelLists.first { $0.name == "names" })
    #expect(summary.skipped == 4)
    #expect(summary.skippedTypes == ["Intel::URL": 2, "Intel::DOMIAN": 1, "Intel::ADDR": 1])
    #expect(
      summary.description.contains("4 lines of other types skipped (Intel::URL 2, Intel::ADDR 1, Intel::DOMIAN 1)"))
  }

  @Test func aLongBreakdownNamesTheFirstTypesAndCountsTheRest() {
    var summary = IntelListSummary(name: "z", type: "domain", match: "exact", location: "r.yaml:1:3")
    summary.skippedTypes = Dictionary(uniqueKeysWithValues: (1...11).map { ("Intel::T\($0)", $0) })
    summary.skipped = summary.skippedTypes.values.reduce(0, +)
    #expect(
      summary.skippedTypeBreakdown
        == "Intel::T11 11, Intel::T10 10, Intel::T9 9, Intel::T8 8, Intel::T7 7, Intel::T6 6, Intel::T5 5, "
        + "Intel::T4 4, 6 of 3 more types")
  }
}

import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// A `type: string` list tested against a DNS name field warns of the strings its files hold that
/// no name can equal, as it does of its inline items: once a use, naming the first and how many
/// there are. Only the inline items were checked, so a feed written in capitals never matched, silently.
@Suite struct FeedNameListWarningTests {
  private func warnings(_ feed: String, condition: String = "remote_dns in hosts") throws -> [Diagnostic] {
    let directory = try RuleIntelListTests.Directory(["hosts.txt": feed])
    defer { directory.remove() }
    let rules = try RuleIntelListTests.load(
      directory,
      RuleIntelListTests.rules("- list: {name: hosts, type: string, files: [hosts.txt]}", condition: condition))
    return rules.warnings.filter { $0.message.contains("can never match") }
  }

  @Test func aFeedOfStringsNoNameCanEqualWarnsOnceAtTheUseNamingTheFirst() throws {
    let feed = "ok.example\n# comment\n  Evil.example\nbad.example.\n.lead.example\nWORSE.EXAMPLE\n"
    let found = try warnings(feed)
    #expect(found.count == 1, "\(found)")
    let warning = try #require(found.first)
    // The condition is on line 6 of the rule file, at column 16; `hosts` is 14 scalars into it.
    #expect((warning.line, warning.column) == (6, 30), "\(warning)")
    #expect(
      warning.message.hasPrefix(
        "'remote_dns in hosts' can never match 4 strings its files hold, the first "
          + "'Evil.example' ("), "\(warning)")
    #expect(
      warning.message.contains(
        "/hosts.txt:3:3): the list is 'type: string', compared byte for byte, and "
          + "'Evil.example' has the capital 'E'"), "\(warning)")
    #expect(warning.message.hasSuffix("a 'type: domain' list compares names in any case, without the final dot"))
  }

  @Test func oneSuchStringIsNamedAlone() throws {
    let found = try warnings("ok.example\nbad.example.\n")
    #expect(found.count == 1, "\(found)")
    #expect(
      found.first?.message.hasPrefix("'remote_dns in hosts' can never match the string 'bad.example.' its files hold (")
        == true, "\(found)")
    #expect(found.first?.message.contains("names arrive without the final dot") == true, "\(found)")
  }

  @Test func aFeedThatCanMatchOrIsNotOnANameSaysNothing() throws {
    #expect(try warnings("ok.example\na.example\n").isEmpty)
    #expect(try warnings("Evil.example\n", condition: "process.comm in hosts").isEmpty)
  }
}

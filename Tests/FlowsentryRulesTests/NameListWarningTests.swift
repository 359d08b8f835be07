import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// Lists and literals compared with DNS name fields that capture can never deliver: `type: string`
/// lists (compared byte for byte) with items in upper case, final dots where a name's end is
/// compared, leading dots where its start is, and non-ASCII text under the `i…` forms. Each warning
/// is at a position; what can match says nothing.
@Suite struct NameListWarningTests {
  private func warnings(_ condition: String, lists: String = "") throws -> [Diagnostic] {
    let text = """
      \(lists)- rule:
          id: T-1
          name: t
          events: [net_flow_tcp_begin, net_packet_dns]
          condition: \(condition)
          output: x
      """
    return try RuleLoader.load(text: text, file: "w.yaml").warnings.filter { !$0.message.contains("is not used") }
  }

  private let stringList = """
    - list:
        name: hosts
        type: string
        items: [ok.example, Evil.example, Bad.example]

    """

  @Test func aStringListWithCapitalsWarnsAtItsUseNamingTheItem() throws {
    let found = try warnings("remote_dns in hosts", lists: stringList)
    #expect(found.count == 1, "\(found)")
    // The rule's condition is on line 9; `hosts` is 14 scalars into it, which starts at column 16.
    #expect(found.first?.line == 9 && found.first?.column == 30, "\(found)")
    let expected: String =
      "'remote_dns in hosts' can never match its item 'Evil.example' (w.yaml:4:25): the list is "
      + "'type: string', compared byte for byte, and 'Evil.example' has the capital 'E', but remote_dns "
      + "holds names as capture delivers them (lower case, other bytes as \\DDD: docs/EVENTS.md); write it "
      + "as capture does: 'evil.example' (1 more item cannot match either); a 'type: domain' list compares "
      + "names in any case, without the final dot"
    #expect(found.first?.message == expected, "\(found)")
  }

  @Test func aStringListThatCanMatchOrIsNotOnANameSaysNothing() throws {
    #expect(try warnings("process.comm in hosts", lists: stringList).isEmpty)
    let lower = "- list: {name: hosts, type: string, items: [ok.example, a.example]}\n"
    #expect(try warnings("remote_dns in hosts", lists: lower).isEmpty)
  }

  @Test func aFinalDotWhereTheEndIsComparedWarnsAtTheItem() throws {
    let found = try warnings(
      "remote_dns endswith 'evil.com.' or dns.questions in ('a.example.', 'b.example') or dst_dns != x.org.")
    #expect(found.count == 3, "\(found)")
    #expect(found.map(\.column) == [36, 69, 110], "\(found)")
    let expected: String =
      "'remote_dns endswith evil.com.' can never match: names arrive without the final dot (remote_dns "
      + "holds names as capture delivers them: docs/EVENTS.md); write 'evil.com'"
    #expect(found.first?.message == expected, "\(found)")
    #expect(found.last?.message.hasPrefix("'dst_dns != x.org.' is always true") == true, "\(found)")
    // A list's item: at the item, as its other warnings are.
    let listed = try warnings("remote_dns iendswith suffixes", lists: "- list: {name: suffixes, items: [Evil.org.]}\n")
    #expect(listed.count == 1 && listed[0].line == 1 && listed[0].column == 34, "\(listed)")
    #expect(listed.first?.message.contains("write 'Evil.org'") == true, "\(listed)")
  }

  @Test func aLeadingDotWhereTheStartIsComparedWarns() throws {
    let found = try warnings("remote_dns in ('.evil.com', evil.org)")
    #expect(found.count == 1 && found[0].column == 31, "\(found)")
    let expected: String =
      "'remote_dns in .evil.com' can never match: a name never begins with a dot; for the names under "
      + "evil.com write 'remote_dns endswith .evil.com', or use a list of 'type: domain' with 'match: suffix' "
      + "for evil.com and the names under it"
    #expect(found.first?.message == expected, "\(found)")
  }

  @Test func nonASCIIUnderTheFoldingFormsWarns() throws {
    let found = try warnings("remote_dns iendswith 'Café.org'")
    #expect(found.count == 1 && found[0].column == 37, "\(found)")
    let expected: String =
      "'remote_dns iendswith Café.org' can never match: 'Café.org' has the non-ASCII 'é', but remote_dns "
      + "holds names as capture delivers them (lower case, other bytes as \\DDD: docs/EVENTS.md); write it as "
      + "capture does: 'caf\\195\\169.org'"
    #expect(found.first?.message == expected, "\(found)")
  }

  @Test func dotsAndFoldingThatCanMatchSayNothing() throws {
    let quiet = [
      "remote_dns startswith 'www.'", "remote_dns contains 'evil.com.'", "process.comm endswith 'x.'",
      "remote_dns endswith '.evil.com'", "remote_dns iendswith 'Evil.COM'", "remote_dns icontains '.Evil.'",
      "process.comm iendswith 'é'", "remote_dns == '.'",
    ]
    for condition in quiet { #expect(try warnings(condition).isEmpty, "\(condition)") }
  }
}

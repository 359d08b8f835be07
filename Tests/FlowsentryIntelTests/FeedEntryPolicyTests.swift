import FlowsentryCore
import Testing

@testable import FlowsentryIntel

/// Entries that parse but make a list dangerous or useless: a single label read from a feed (every
/// `.com` name under `match: suffix`), an IP address in a domain list (no name ever equals it), and
/// an address block covering a large part of the space (kept, with a warning).
@Suite struct FeedEntryPolicyTests {
  static func feed(_ text: String, _ type: IndicatorType, _ match: DomainMatch = .exact, format: FeedFormat = .lines)
    throws -> IntelList
  {
    var builder = IntelListBuilder(name: "l", type: type, domainMatch: match)
    try builder.loadFeed(text, file: "f.txt", format: format)
    return builder.build()
  }

  // MARK: Single labels

  @Test func aFeedsSingleLabelIsRefusedUnderSuffixWithItsPosition() throws {
    let list = try Self.feed("evil.example\ncom\n  COM.\n", .domain, .suffix)
    #expect(list.count == 1)
    #expect(!list.contains(domain: "innocent.com"))
    #expect(!list.contains(domain: "com"))
    #expect(list.contains(domain: "a.evil.example"))
    #expect(list.statistics.malformed == 2)
    #expect(list.diagnostics.map { [$0.line, $0.column] } == [[2, 1], [3, 3]])
    let message = try #require(list.diagnostics.first?.message)
    #expect(message.contains("'com'"))
    #expect(message.contains("every name under that top-level domain"))
    #expect(message.contains("items:"))
  }

  /// A hosts file's header (`127.0.0.1 localhost`, `::1 localhost ip6-localhost`) gives no names,
  /// in a suffix list or an exact one; its other lines still do.
  @Test(arguments: [DomainMatch.suffix, .exact])
  func aHostsFilesHeaderGivesNoNames(match: DomainMatch) throws {
    let hosts = """
      # hosts
      127.0.0.1\tlocalhost
      ::1     localhost ip6-localhost ip6-loopback
      127.0.0.1\tmalware-drop.example
      0.0.0.0 c2.example.net

      """
    let list = try Self.feed(hosts, .domain, match)
    #expect(list.count == 2)
    #expect(list.contains(domain: "malware-drop.example"))
    #expect(list.contains(domain: "c2.example.net"))
    #expect(!list.contains(domain: "localhost"))
    #expect(!list.contains(domain: "ip6-localhost"))
    #expect(!list.contains(domain: "printer.localhost"))
    // A hosts file's own names are in every copy of it: counted apart, not malformed, no warning
    // (a dashboard on malformed lines stays at zero for a clean hosts file).
    #expect(list.statistics.malformed == 0)
    #expect(list.diagnostics.isEmpty)
    #expect(list.statistics.hostsFileLabels == 4)
  }

  /// A line that starts with an address but holds words that are no host names is malformed as a
  /// whole: a Zeek intel file read as `lines` would otherwise list its `meta.source` and the names
  /// in its notes (`feodotracker.abuse.ch`, `report.pdf`), and every lookup under them would alert.
  @Test(arguments: [DomainMatch.suffix, .exact])
  func aHostsLineWithOtherWordsListsNothingOfIt(match: DomainMatch) throws {
    let zeek = """
      #fields\tindicator\tindicator_type\tmeta.source\tmeta.desc
      203.0.113.50\tIntel::ADDR\tfeodotracker.abuse.ch\tQakBot C2, see report.pdf
      198.51.100.7 malware-drop.example  bad,name.example
      0.0.0.0 c2.example.net

      """
    let list = try Self.feed(zeek, .domain, match)
    #expect(list.count == 1)
    #expect(list.contains(domain: "c2.example.net"))
    for unlisted in ["x.feodotracker.abuse.ch", "feodotracker.abuse.ch", "report.pdf", "malware-drop.example"] {
      #expect(!list.contains(domain: unlisted), "\(unlisted)")
    }
    #expect(list.statistics.malformed == 2)
    #expect(list.statistics.hostsFileLabels == 0)
    #expect(list.diagnostics.map { [$0.line, $0.column] } == [[2, 14], [3, 36]])
    let messages = list.diagnostics.map(\.message)
    #expect(messages[0].contains("a hosts-file line is an address and host names"))
    #expect(messages[0].contains("format: zeek-intel"))
    #expect(messages[1].contains("','") && !messages[1].contains("zeek"))
  }

  /// One name a line, a single label is a malformed line with its position, hosts form or not.
  @Test func aSingleLabelAloneOnItsLineIsMalformed() throws {
    let list = try Self.feed("# feed\ncom\nlocalhost.\nevil.example\n", .domain, .suffix)
    #expect(list.count == 1)
    #expect(list.statistics.malformed == 2)
    #expect(list.statistics.hostsFileLabels == 0)
    #expect(list.diagnostics.map { [$0.line, $0.column] } == [[2, 1], [3, 1]])
    #expect(list.diagnostics.allSatisfy { $0.message.contains("single label") && $0.message.contains("items:") })
  }

  @Test func csvAndZeekFeedsRefuseSingleLabelsToo() throws {
    let csv = try Self.feed("host,note\nnet,x\nbad.net,y\n", .domain, .suffix, format: .csv(column: .name("host")))
    #expect(csv.count == 1)
    #expect(!csv.contains(domain: "good.net"))
    #expect(csv.diagnostics.map { [$0.line, $0.column] } == [[2, 1]])

    let zeek = try Self.feed(
      "#fields\tindicator\tindicator_type\nio\tIntel::DOMAIN\nc2.io\tIntel::DOMAIN\n", .domain, .suffix,
      format: .zeekIntel)
    #expect(zeek.count == 1)
    #expect(!zeek.contains(domain: "github.io"))
    #expect(zeek.contains(domain: "x.c2.io"))
    #expect(zeek.diagnostics.map { [$0.line, $0.column] } == [[2, 1]])
  }

  /// A rule author may mean a top-level domain: written inline, a single label is kept.
  @Test func anInlineSingleLabelIsKept() throws {
    var builder = IntelListBuilder(name: "tlds", type: .domain, domainMatch: .suffix)
    let keptTLD = builder.addItem("zip", file: "rules.yaml", line: 3, column: 12)
    let keptLocalhost = builder.addItem(" localhost ", file: "rules.yaml", line: 4, column: 12)
    #expect(keptTLD && keptLocalhost)
    let list = builder.build()
    #expect(list.count == 2)
    #expect(list.contains(domain: "invoice.zip"))
    #expect(list.contains(domain: "localhost"))
    #expect(list.statistics.malformed == 0)
  }

  // MARK: Addresses in domain lists

  @Test(arguments: [
    "1.2.3.4", "1.2.3.4.", "[::1]", "::1", "2001:db8::bad", "[192.0.2.1]", "203.0.113.0/24", "::ffff:1.2.3.4",
  ])
  func anAddressInADomainListIsRefusedPointingToAnAddressList(address: String) throws {
    let list = try Self.feed("ok.example\n  \(address)\n", .domain, .suffix)
    #expect(list.count == 1)
    #expect(list.statistics.malformed == 1)
    let diagnostic = try #require(list.diagnostics.first)
    #expect([diagnostic.line, diagnostic.column] == [2, 3])
    #expect(diagnostic.message.contains("'\(address)' is an IP address"))
    #expect(diagnostic.message.contains("address list"))

    var inline = IntelListBuilder(name: "d", type: .domain)
    let kept = inline.addItem(address, file: "rules.yaml", line: 1, column: 1)
    #expect(!kept)
    #expect(inline.diagnostics.first?.message.contains("address list") == true)
  }

  @Test func aHostsLineNamingAnAddressIsRefusedAtThatField() throws {
    let list = try Self.feed("0.0.0.0 0.0.0.0\n0.0.0.0 a.example 10.1.2.3\n", .domain)
    #expect(list.count == 1)
    #expect(list.diagnostics.map { [$0.line, $0.column] } == [[1, 9], [2, 19]])
  }

  /// Numeric labels are names unless the whole is an address.
  @Test(arguments: ["1.2.3", "1.2.3.4.example", "1.2.3.4.5", "4.3.2.1.in-addr.arpa", "0x7f.example", "a1.b2"])
  func numericNamesThatAreNotAddressesAreKept(name: String) throws {
    let list = try Self.feed(name + "\n", .domain, .suffix)
    #expect(list.count == 1, "\(list.diagnostics)")
    #expect(list.contains(domain: name))
  }

  // MARK: Broad address blocks

  @Test func blocksBroaderThanASlash8OrSlash16AreKeptWithAWarning() throws {
    let text = """
      203.0.113.0/24
      ::ffff:0:0/96
      0.0.0.0/1
      10.0.0.0/8
      ::ffff:10.0.0.0/104
      ::ffff:0:0/97
      2001:db8::/16
      2000::/3
      ::/0
      0.0.0.0/7 ; typo

      """
    let list = try Self.feed(text, .address)
    #expect(list.statistics.malformed == 0)
    #expect(list.diagnostics.isEmpty)
    #expect(list.statistics.broadBlocks == 6)
    #expect(list.warnings.map(\.line) == [2, 3, 6, 8, 9, 10])
    #expect(list.warnings.allSatisfy { $0.severity == .warning && $0.file == "f.txt" && $0.column == 1 })
    // Kept: 0.0.0.0/0 from the mapped block matches every IPv4 peer, as the feed said.
    #expect(list.match(address: IPAddress("192.0.2.1")!)?.indicator == "0.0.0.0/0")
    #expect(list.match(address: IPAddress("4400::1")!)?.indicator == "::/0")
    let messages = list.warnings.map(\.message)
    try #require(messages.count == 6)
    #expect(messages[0].contains("'::ffff:0:0/96' (0.0.0.0/0)"))
    #expect(messages[0].contains("every IPv4 address"))
    #expect(messages[1].contains("'0.0.0.0/1'") && messages[1].contains("1 in 2 IPv4 addresses"))
    #expect(messages[1].contains("/8"))
    #expect(messages[2].contains("(0.0.0.0/1)"))
    #expect(messages[3].contains("'2000::/3'") && messages[3].contains("1 in 8 IPv6") && messages[3].contains("/16"))
    #expect(messages[4].contains("every IPv6 address"))
  }

  @Test func broadBlockWarningsAreCappedButAllCounted() throws {
    var builder = IntelListBuilder(name: "a", type: .address, diagnosticLimit: 2)
    try builder.loadFeed((1...7).map { "\($0).0.0.0/7" }.joined(separator: "\n"), file: "f.txt", format: .lines)
    let kept = builder.addItem("64.0.0.0/2", file: "rules.yaml", line: 9, column: 4)
    #expect(kept)
    let list = builder.build()
    #expect(list.statistics.broadBlocks == 8)
    #expect(list.warnings.count == 2)
    #expect(list.count == 5)  // 0/7, 2/7, 4/7, 6/7 (odd ones are the same blocks), 64/2
    #expect(list.statistics.duplicates == 3)
  }
}

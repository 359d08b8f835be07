import FlowsentryCore
import Testing

@testable import FlowsentryIntel

@Suite struct FeedFormatTests {
  @Test func feodoTrackerCSVByHeaderNameFromTheCommentHeader() throws {
    let directory = try FeedDirectory()
    let path = try directory.write("ipblocklist.csv", feodoTrackerCSV)
    var builder = IntelListBuilder(name: "feodo", type: .address)
    try builder.loadFile(atPath: path, format: .csv(column: .name("dst_ip")), displayName: "intel/ipblocklist.csv")
    let list = builder.build()

    #expect(list.statistics.indicators == 3)
    #expect(list.statistics.duplicates == 1)
    #expect(list.statistics.malformed == 1)
    #expect(list.statistics.lines == 15)
    let match = try #require(list.match(address: IPAddress("203.0.113.17")!))
    #expect(match.indicator == "203.0.113.17/32")
    #expect(match.list == "feodo")
    #expect(match.source == "intel/ipblocklist.csv:10")
    #expect(list.match(address: IPAddress("2001:db8::bad")!)?.source == "intel/ipblocklist.csv:12")
    #expect(!list.contains(address: IPAddress("203.0.113.18")!))

    let diagnostic = try #require(list.diagnostics.first)
    #expect(diagnostic.file == "intel/ipblocklist.csv")
    #expect(diagnostic.line == 13)
    #expect(diagnostic.column == 24)  // inside the quotes of the second field
    #expect(diagnostic.message.contains("203.0.113.300"))
  }

  @Test func csvByIndexAndByAnUncommentedHeader() throws {
    var byIndex = IntelListBuilder(name: "ports", type: .port)
    try byIndex.loadFeed(feodoTrackerCSV, file: "f.csv", format: .csv(column: .index(3)))
    let ports = byIndex.build()
    #expect(ports.statistics.indicators == 3)  // 443, 8080, 447
    #expect(ports.statistics.duplicates == 2)
    #expect(ports.match(port: 8080)?.source == "f.csv:11")

    var byName = IntelListBuilder(name: "hosts", type: .domain)
    try byName.loadFeed(
      "id,host,\"note, with comma\"\r\n1,a.example,\"say \"\"hi\"\"\"\r\n2,\"b.example\",x\r\n3\r\n",
      file: "h.csv", format: .csv(column: .name("host")))
    let hosts = byName.build()
    #expect(hosts.statistics.indicators == 2)
    #expect(hosts.contains(domain: "b.example"))
    #expect(hosts.statistics.malformed == 1)
    #expect(hosts.diagnostics.first?.line == 4)
    #expect(hosts.diagnostics.first?.message.contains("1 fields") == true)
  }

  @Test func csvHeaderNamesMatchInAnyCaseAndAnExactSpellingWins() throws {
    var anyCase = IntelListBuilder(name: "feodo", type: .address)
    try anyCase.loadFeed(feodoTrackerCSV, file: "f.csv", format: .csv(column: .name("DST_IP")))
    #expect(anyCase.build().statistics.indicators == 3)

    var exact = IntelListBuilder(name: "x", type: .address)
    try exact.loadFeed("# ip,IP\n203.0.113.1,203.0.113.2\n", file: "x.csv", format: .csv(column: .name("IP")))
    let list = exact.build()
    #expect(list.contains(address: IPAddress("203.0.113.2")!))
    #expect(!list.contains(address: IPAddress("203.0.113.1")!))
  }

  @Test func csvQuotingErrorsAreMalformedLinesWithPositions() throws {
    var builder = IntelListBuilder(name: "s", type: .string)
    try builder.loadFeed(
      "a,\"x\"\"y\",c\nb,\"unterminated\nc,\"q\"junk,d\n", file: "s.csv", format: .csv(column: .index(2)))
    let list = builder.build()
    #expect(list.contains(string: "x\"y"))
    #expect(list.statistics.malformed == 2)
    #expect(list.diagnostics.map { [$0.line, $0.column] } == [[2, 3], [3, 6]])
  }

  @Test func csvColumnThatNoHeaderNamesIsAnError() {
    var builder = IntelListBuilder(name: "x", type: .address)
    #expect(throws: IntelFeedError.self) {
      try builder.loadFeed("# a,b\n1.2.3.4,5\n", file: "x.csv", format: .csv(column: .name("dst_ip")))
    }
    #expect(throws: IntelFeedError.self) {
      try builder.loadFeed("1.2.3.4\n", file: "x.csv", format: .csv(column: .index(0)))
    }
  }

  @Test func urlhausHostfileGivesItsNames() throws {
    let directory = try FeedDirectory()
    let path = try directory.write("hostfile.txt", urlhausHostfile)
    var builder = IntelListBuilder(name: "urlhaus", type: .domain, domainMatch: .suffix)
    try builder.loadFile(atPath: path, format: .lines, displayName: "hostfile.txt")
    let list = builder.build()
    #expect(list.statistics.indicators == 3)
    #expect(list.statistics.duplicates == 1)
    #expect(list.statistics.malformed == 1)
    #expect(list.diagnostics.first.map { [$0.line, $0.column] } == [12, 11])
    #expect(list.match(domain: "cdn7.evil-cdn.example.net.")?.indicator == "evil-cdn.example.net")
    #expect(list.match(domain: "malware-drop.example")?.source == "hostfile.txt:9")
  }

  @Test func linesFormatTakesBOMCRLFCommentsAndBlankLines() throws {
    let text =
      "\u{FEFF}# list\r\nevil.example\r\n\r\n   \r\n  second.example  # why\r\n10.0.0.1 ; note\r\ntwo words\r\n"
    var builder = IntelListBuilder(name: "d", type: .domain)
    try builder.loadFeed(text, file: "d.txt", format: .lines)
    let list = builder.build()
    #expect(list.statistics.indicators == 2)  // evil.example, second.example
    #expect(list.contains(domain: "evil.example"))
    #expect(list.contains(domain: "second.example"))
    // "10.0.0.1" (its "; note" cut off) is an address, which a domain list refuses (it once took it as a name).
    #expect(list.statistics.malformed == 2)
    #expect(list.diagnostics.map { [$0.line, $0.column] } == [[6, 1], [7, 5]])
    #expect(list.diagnostics.first?.message.contains("address list") == true)

    var strings = IntelListBuilder(name: "s", type: .string)
    try strings.loadFeed("\u{FEFF}Mozilla/5.0 # not a comment\r\n#comment\n", file: "s.txt", format: .lines)
    let stringList = strings.build()
    #expect(stringList.contains(string: "Mozilla/5.0 # not a comment"))
    #expect(stringList.count == 1)
  }

  @Test func zeekIntelKeepsItsTypesAndSources() throws {
    let directory = try FeedDirectory()
    let path = try directory.write("main.intel", zeekIntelFile)
    var addresses = IntelListBuilder(name: "zeek-addresses", type: .address)
    try addresses.loadFile(atPath: path, format: .zeekIntel, displayName: "main.intel")
    let list = addresses.build()
    #expect(list.statistics.indicators == 3)
    #expect(list.statistics.skippedTypes == ["Intel::DOMAIN": 1, "Intel::URL": 1, "Intel::FILE_HASH": 1])
    #expect(list.statistics.malformed == 2)
    #expect(list.diagnostics.map { [$0.line, $0.column] } == [[9, 1], [10, 1]])
    #expect(list.match(address: IPAddress("198.51.100.7")!)?.source == "spamhaus-drop (main.intel:4)")
    #expect(list.match(address: IPAddress("203.0.113.66")!)?.origin.feedSource == "feodo")
    #expect(list.match(address: IPAddress("2001:db8:bad:1::1")!)?.source == "main.intel:8")

    var domains = IntelListBuilder(name: "zeek-domains", type: .domain)
    try domains.loadFeed(zeekIntelFile, file: "main.intel", format: .zeekIntel)
    let domainList = domains.build()
    #expect(domainList.count == 1)
    #expect(domainList.match(domain: "C2.example")?.source == "urlhaus (main.intel:5)")
    #expect(domainList.statistics.skipped == 6)
  }

  /// `meta.do_notice` and `meta.if_in` (Zeek's policy/frameworks/intel/do_notice.zeek) say whether a
  /// match Zeek logs to intel.log is raised as a notice too, never whether it matches: every line
  /// is listed whatever they say, `F` and unset included, as Zeek logs every match.
  @Test func zeekDoNoticeAndIfInDecideNothing() throws {
    let feed = """
      #separator \\x09
      #fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.do_notice\tmeta.if_in
      c2.example\tIntel::DOMAIN\tacme\tC2 server\tT\t-
      quiet.example\tIntel::DOMAIN\tacme\tLogged only\tF\t-
      unset.example\tIntel::DOMAIN\tacme\tDefault\t-\t-
      dns-only.example\tIntel::DOMAIN\tacme\tNotice in DNS\tT\tDNS::IN_REQUEST

      """
    var builder = IntelListBuilder(name: "zeek-domains", type: .domain)
    try builder.loadFeed(feed, file: "notice.intel", format: .zeekIntel)
    let list = builder.build()
    #expect(list.statistics.indicators == 4)
    #expect(list.statistics.malformed == 0)
    for name in ["c2.example", "quiet.example", "unset.example", "dns-only.example"] {
      #expect(list.match(domain: name)?.origin.feedSource == "acme", "\(name)")
    }
  }

  /// A source per line (a hostile or broken export) would keep a string per indicator: past the
  /// limit a line's file is its origin, counted, and the sources kept are counted in the list's bytes.
  @Test func zeekSourcesPastTheLimitAreAttributedToTheirFileAndCounted() throws {
    var feed = "#fields\tindicator\tindicator_type\tmeta.source\n"
    for index in 0..<10 {
      feed += "198.51.100.\(index)\tIntel::ADDR\tsource-\(index)-" + String(repeating: "x", count: 200) + "\n"
    }
    feed += "198.51.100.200\tIntel::ADDR\tsource-1-" + String(repeating: "x", count: 200) + "\n"
    var builder = IntelListBuilder(name: "zeek", type: .address)
    builder.maximumFeedSources = 4
    try builder.loadFeed(feed, file: "many.intel", format: .zeekIntel)
    let list = builder.build()
    #expect(list.statistics.indicators == 11)
    #expect(list.statistics.feedSourcesPastLimit == 6)
    #expect(list.match(address: IPAddress("198.51.100.3")!)?.origin.feedSource?.hasPrefix("source-3-") == true)
    #expect(list.match(address: IPAddress("198.51.100.4")!)?.source == "many.intel:6")
    // A source already kept still names its lines past the limit.
    #expect(list.match(address: IPAddress("198.51.100.200")!)?.origin.feedSource?.hasPrefix("source-1-") == true)

    var unlimited = IntelListBuilder(name: "zeek", type: .address)
    try unlimited.loadFeed(feed, file: "many.intel", format: .zeekIntel)
    let all = unlimited.build()
    #expect(all.statistics.feedSourcesPastLimit == 0)
    // Six more sources of over 200 bytes each are counted in the list's bytes.
    #expect(all.statistics.memoryBytes - list.statistics.memoryBytes >= 6 * 200)
  }

  @Test func zeekIntelWithoutFieldsOrWithAnotherSeparatorIsAnError() {
    var builder = IntelListBuilder(name: "z", type: .address)
    #expect(throws: IntelFeedError.self) {
      try builder.loadFeed("1.2.3.4\tIntel::ADDR\n", file: "z.intel", format: .zeekIntel)
    }
    #expect(throws: IntelFeedError.self) {
      try builder.loadFeed("#separator ,\n", file: "z.intel", format: .zeekIntel)
    }
    #expect(throws: IntelFeedError.self) {
      try builder.loadFeed("#fields\tindicator\tmeta.source\n", file: "z.intel", format: .zeekIntel)
    }
  }

  /// Which column is missing, and a header whose tabs became spaces, are said as such.
  @Test func zeekHeaderErrorsSayWhatIsWrongWithTheHeader() {
    func message(_ text: String) -> String? {
      var builder = IntelListBuilder(name: "z", type: .address)
      do {
        try builder.loadFeed(text, file: "z.intel", format: .zeekIntel)
        return nil
      } catch {
        guard case .invalid(let diagnostic) = error else { return nil }
        return "\(diagnostic.line): \(diagnostic.message)"
      }
    }
    #expect(message("#fields\tindicator\tmeta.source\n") == "1: #fields names no 'indicator_type' column")
    #expect(message("#fields\tindicator_type\tmeta.source\n") == "1: #fields names no 'indicator' column")
    #expect(message("#fields\tmeta.source\n") == "1: #fields names no 'indicator' and 'indicator_type' columns")
    #expect(
      message("#separator \\x09\n#fields indicator indicator_type meta.source\n1.2.3.4\tIntel::ADDR\tx\n")
        == "2: the #fields header is separated by spaces; Zeek intel files separate fields by tabs")
  }

  /// A `column:` no header names is said at the header abuse.ch puts in its last comment line,
  /// with the names it holds and the one meant.
  @Test func aCSVColumnNoHeaderNamesIsSaidAtTheHeaderWithItsNames() throws {
    var builder = IntelListBuilder(name: "f", type: .address)
    do {
      try builder.loadFeed(feodoTrackerCSV, file: "f.csv", format: .csv(column: .name("dstip")))
      Issue.record("loaded without the column")
    } catch {
      guard case .invalid(let diagnostic) = error else { throw error }
      #expect(diagnostic.line == 9)
      #expect(
        diagnostic.message
          == "no header line names the column 'dstip'; the header names: first_seen_utc, dst_ip, dst_port, "
          + "c2_status, last_online, malware; did you mean 'dst_ip'?")
    }
    var plain = IntelListBuilder(name: "h", type: .domain)
    do {
      try plain.loadFeed("host,note\nevil.example,x\n", file: "h.csv", format: .csv(column: .name("url")))
      Issue.record("loaded without the column")
    } catch {
      guard case .invalid(let diagnostic) = error else { throw error }
      #expect(diagnostic.line == 1)
      #expect(diagnostic.message == "no header line names the column 'url'; the header names: host, note")
    }
    // A comment of one field is prose, not a header: the first line's names are the ones shown.
    var prose = IntelListBuilder(name: "p", type: .address)
    do {
      try prose.loadFeed(
        "# Blocklist generated 2026-01-01\nip,port\n203.0.113.5,443\n", file: "p.csv",
        format: .csv(column: .name("dst_ip")))
      Issue.record("loaded without the column")
    } catch {
      guard case .invalid(let diagnostic) = error else { throw error }
      #expect(diagnostic.line == 2)
      #expect(diagnostic.message == "no header line names the column 'dst_ip'; the header names: ip, port")
    }
  }

  @Test func anUnreadableFeedIsAnErrorNamingThePath() {
    var builder = IntelListBuilder(name: "x", type: .domain)
    #expect(throws: IntelFeedError.unreadable(path: "/nonexistent/feed.txt", reason: "No such file or directory")) {
      try builder.loadFile(atPath: "/nonexistent/feed.txt", format: .lines)
    }
    #expect(throws: IntelFeedError.self) { try builder.loadFile(atPath: "/", format: .lines) }
  }

  @Test func anOverlongLineIsSkippedAndTheNextOneRead() throws {
    let long = String(repeating: "a", count: 70_000)
    let text = "first.example\n\(long).example\nnext.example\n\(long)"
    let directory = try FeedDirectory()
    let path = try directory.write("long.txt", text)
    for fromFile in [true, false] {
      var builder = IntelListBuilder(name: "d", type: .domain)
      if fromFile {
        try builder.loadFile(atPath: path, format: .lines)
      } else {
        try builder.loadFeed(text, file: path, format: .lines)
      }
      let list = builder.build()
      #expect(list.count == 2)
      #expect(list.contains(domain: "next.example"))
      #expect(list.statistics.malformed == 2)
      #expect(list.diagnostics.map(\.line) == [2, 4])
    }
  }

  /// The file reader cuts lines at any chunk boundary exactly as the in-memory reader does.
  @Test func chunkBoundariesDoNotChangeTheLines() throws {
    let text = "a.example\r\nb.example\n\n#c\nd.example"
    let directory = try FeedDirectory()
    let path = try directory.write("chunks.txt", text)
    func lines(bufferSize: Int?) throws -> [String] {
      var seen: [String] = []
      let body: (FeedLine) throws(IntelFeedError) -> Void = { line in
        if case .text(let bytes, let number) = line {
          seen.append("\(number):\(String(decoding: bytes, as: UTF8.self))")
        }
      }
      if let bufferSize {
        _ = try forEachLine(ofFileAt: path, bufferSize: bufferSize, maximumLineLength: 16, body)
      } else {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: text.utf8.count, alignment: 1)
        defer { buffer.deallocate() }
        buffer.copyBytes(from: text.utf8)
        try forEachLine(in: UnsafeRawBufferPointer(buffer), maximumLineLength: 16, body)
      }
      return seen
    }
    let expected = try lines(bufferSize: nil)
    #expect(expected == ["1:a.example\r", "2:b.example", "3:", "4:#c", "5:d.example"])
    for size in 1...20 { #expect(try lines(bufferSize: size) == expected) }
  }

  @Test func diagnosticsAreCappedButAllCounted() throws {
    var builder = IntelListBuilder(name: "p", type: .port, diagnosticLimit: 3)
    try builder.loadFeed(String(repeating: "nope\n", count: 10) + "22\n", file: "p.txt", format: .lines)
    let list = builder.build()
    #expect(list.diagnostics.count == 3)
    #expect(list.statistics.malformed == 10)
    #expect(list.contains(port: 22))
  }
}

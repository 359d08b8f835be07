import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// Typed lists read from feed files in rule files: formats, positions, semantics, and the alert's indicator.
@Suite struct RuleIntelListTests {
  /// A fresh directory holding `files` (relative path → contents), removed by `remove()`.
  struct Directory {
    let path: String

    init(_ files: [String: String]) throws {
      path = NSTemporaryDirectory() + "flowsentry-intel-rules-" + UUID().uuidString
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
      for (name, text) in files {
        let file = path + "/" + name
        try FileManager.default.createDirectory(
          atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
      }
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
  }

  static let urlhausHosts = """
    ################################################################
    # abuse.ch URLhaus Host file                                   #
    ################################################################
    127.0.0.1\tEvil.example
    127.0.0.1\tmalware.test
    127.0.0.1\tb@d.example
    """

  static let feodoCSV = """
    ################################################################
    # abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #
    ################################################################
    #
    # "first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"
    "2026-01-02 03:04:05","203.0.113.5","443","online","2026-12-01","QakBot"
    "2026-01-02 03:04:05","198.51.100.0/24","8080","online","2026-12-01","Emotet"
    "2026-01-02 03:04:05","198.51.100.77","8080","online","2026-12-01","Emotet"
    "2026-01-02 03:04:05","300.1.2.3","443","offline","2026-12-01","QakBot"
    # Number of entries: 4
    """

  static let zeekIntel = """
    #fields\tindicator\tindicator_type\tmeta.source\tmeta.desc
    c2.example\tIntel::DOMAIN\tacme-feed\tbotnet
    203.0.113.99\tIntel::ADDR\tacme-feed\tbotnet
    https://x.example/a\tIntel::URL\tacme-feed\tskipped
    """

  static func rules(_ lists: String, condition: String, extra: String = "") -> String {
    """
    \(lists)
    - rule:
        id: T-INTEL
        name: intel
        events: [net_flow_tcp_begin, net_packet_dns]
        condition: \(condition)
    \(extra)
    """
  }

  static func connection(to address: String, port: UInt16 = 443, names: [String] = [], at second: Int64 = 0)
    -> SensorEvent
  {
    .flow(
      FlowEvent(
        name: .netFlowTCPBegin, timestamp: second * 1_000_000_000, direction: .outgoing,
        source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress(address)!, port),
        destinationNames: names))
  }

  static func lookup(_ names: [String], at second: Int64 = 0) -> SensorEvent {
    .dns(
      DNSEvent(
        timestamp: second * 1_000_000_000, source: Endpoint(IPAddress("198.51.100.2")!, 5353),
        destination: Endpoint(IPAddress("198.51.100.53")!, 53), transport: .udp, cgroupID: 0, id: 1,
        responseCode: 0, questions: names, answers: [], truncated: false))
  }

  static func alerts(_ rules: RuleSet, _ events: [SensorEvent]) -> [Alert] {
    let engine = RuleEngine(rules: rules)
    var alerts: [Alert] = []
    for event in events { engine.process(event, at: event.timestamp, into: &alerts) }
    return alerts
  }

  static func load(_ directory: Directory, _ text: String) throws -> RuleSet {
    let file = directory.path + "/rules.yaml"
    try text.write(toFile: file, atomically: true, encoding: .utf8)
    return try RuleLoader.load(paths: [file])
  }

  static func errors(_ directory: Directory, _ text: String) throws -> [Diagnostic] {
    do {
      _ = try load(directory, text)
      return []
    } catch let error as RuleLoadError {
      return error.diagnostics.filter { $0.severity == .error }
    }
  }

  // MARK: - Formats

  @Test func aURLhausHostFileRelativeToTheRuleFileMatchesSuffixesAtLabelBoundaries() throws {
    let directory = try Directory(["intel/urlhaus-hosts.txt": Self.urlhausHosts])
    defer { directory.remove() }
    let rules = try Self.load(
      directory,
      Self.rules(
        "- list: {name: c2_domains, type: domain, match: suffix, files: [intel/urlhaus-hosts.txt], format: lines}",
        condition: "remote_dns in c2_domains"))
    let feed = directory.path + "/intel/urlhaus-hosts.txt"
    // The malformed host line is a warning at its feed position, and loading goes on.
    let malformed = try #require(rules.warnings.first { $0.message.contains("list 'c2_domains'") })
    #expect(malformed.file == feed && malformed.line == 6)
    #expect(malformed.column > 1)
    #expect(rules.intelLists.map(\.indicators) == [2])
    #expect(rules.intelLists.map(\.malformed) == [1])

    for (name, fires) in [
      ("evil.example", true), ("A.B.EVIL.Example.", true), ("notevil.example", false), ("example", false),
      ("evil.example.com", false),
    ] {
      let alerts = Self.alerts(rules, [Self.connection(to: "203.0.113.1", names: [name])])
      #expect(alerts.count == (fires ? 1 : 0), "\(name)")
      if fires {
        // The alert also names the peer's name that matched and its field (ECS threat.enrichments.matched.*).
        let match = try #require(alerts.first?.indicator)
        #expect(
          match
            == IntelIndicatorMatch(
              indicator: "evil.example", type: "domain", list: "c2_domains", source: "\(feed):4",
              matchedValue: match.matchedValue, matchedField: "remote_dns", provider: feed, file: feed, line: 4))
        #expect([name, "a.b.evil.example"].contains(match.matchedValue))
      }
    }
  }

  @Test func aFeodoCSVMatchesByLongestPrefixAndMappedAddressesAsIPv4() throws {
    let directory = try Directory(["feodo/ipblocklist.csv": Self.feodoCSV])
    defer { directory.remove() }
    let rules = try Self.load(
      directory,
      Self.rules(
        "- list: {name: c2_addresses, type: address, files: [\(directory.path)/feodo/*.csv], format: csv, column: dst_ip}",
        condition: "remote in c2_addresses"))
    let feed = directory.path + "/feodo/ipblocklist.csv"
    #expect(rules.warnings.contains { $0.file == feed && $0.line == 9 })
    #expect(rules.intelLists.first?.indicators == 3)
    let inBlock = Self.alerts(rules, [Self.connection(to: "198.51.100.9")])
    #expect(inBlock.first?.indicator?.indicator == "198.51.100.0/24")
    #expect(inBlock.first?.indicator?.source == "\(feed):7")
    let host = Self.alerts(rules, [Self.connection(to: "198.51.100.77")])
    #expect(host.first?.indicator?.indicator == "198.51.100.77/32")
    let mapped = Self.alerts(rules, [Self.connection(to: "::ffff:203.0.113.5")])
    #expect(mapped.first?.indicator?.indicator == "203.0.113.5/32")
    #expect(Self.alerts(rules, [Self.connection(to: "203.0.113.6")]).isEmpty)

    // A lookup whose answer is a listed address.
    let answers = try Self.load(
      directory,
      Self.rules(
        "- list: {name: c2_addresses, type: address, files: [\(directory.path)/feodo/*.csv], format: csv, column: dst_ip}",
        condition: "dns.answers in c2_addresses"))
    guard case .dns(var dns) = Self.lookup(["x.example"]) else { return }
    dns.answers = [
      .init(name: "x.example", type: "CNAME", timeToLive: 1, data: "y.example"),
      .init(name: "y.example", type: "A", timeToLive: 1, data: "198.51.100.200"),
    ]
    #expect(Self.alerts(answers, [.dns(dns)]).first?.indicator?.indicator == "198.51.100.0/24")
    dns.answers.removeLast()
    #expect(Self.alerts(answers, [.dns(dns)]).isEmpty)
  }

  /// `dns.answers in` a domain list matches an alias (a CNAME target) under a listed name, in any
  /// case and with its trailing dot; the addresses among the answers are skipped, not looked up as
  /// names (a domain list holds none: the loader refuses them).
  @Test func aLookupsAliasMatchesADomainListAndItsAddressesDoNot() throws {
    let directory = try Directory(["feed.txt": "# aliases\nevil.example\n"])
    defer { directory.remove() }
    let rules = try Self.load(
      directory,
      Self.rules(
        "- list: {name: c2_domains, type: domain, match: suffix, files: [\(directory.path)/feed.txt]}",
        condition: "dns.answers in c2_domains"))
    guard case .dns(var dns) = Self.lookup(["www.example"]) else { return }
    dns.answers = [
      .init(name: "www.example", type: "CNAME", timeToLive: 1, data: "cdn.EVIL.example."),
      .init(name: "cdn.evil.example", type: "A", timeToLive: 1, data: "198.51.100.200"),
    ]
    let alias = Self.alerts(rules, [.dns(dns)])
    #expect(alias.first?.indicator?.indicator == "evil.example")
    #expect(alias.first?.indicator?.source == "\(directory.path)/feed.txt:2")
    // The alias is what matched, not the name asked: ECS threat.enrichments.matched.atomic.
    #expect(alias.first?.indicator?.matchedField == "dns.answers")
    #expect(alias.first?.indicator?.matchedValue.lowercased().hasPrefix("cdn.evil.example") == true)
    dns.answers.removeFirst()
    #expect(Self.alerts(rules, [.dns(dns)]).isEmpty, "no alias left")
  }

  /// `dns.answers` is addresses (A, AAAA) and aliases (CNAME), as capture decodes them: a
  /// recording's PTR or TXT answer is neither, so its data matches no list.
  @Test func onlyAddressAndAliasAnswersAreTested() throws {
    let directory = try RuleIntelListTests.Directory(["feed.txt": "evil.example\n", "feed.ip.txt": "192.0.2.254\n"])
    defer { directory.remove() }
    let rules = try Self.load(
      directory,
      Self.rules(
        """
        - list: {name: c2_domains, type: domain, match: suffix, files: [\(directory.path)/feed.txt]}
        - list: {name: c2_addresses, type: address, files: [\(directory.path)/feed.ip.txt]}
        """,
        condition: "dns.answers in c2_domains or dns.answers in c2_addresses"))
    guard case .dns(var dns) = Self.lookup(["254.2.0.192.in-addr.arpa"]) else { return }
    dns.answers = [
      .init(name: "254.2.0.192.in-addr.arpa", type: "PTR", timeToLive: 1, data: "host.evil.example"),
      .init(name: "254.2.0.192.in-addr.arpa", type: "TXT", timeToLive: 1, data: "192.0.2.254"),
    ]
    #expect(Self.alerts(rules, [.dns(dns)]).isEmpty)
    dns.answers.append(.init(name: "x.example", type: "AAAA", timeToLive: 1, data: "::ffff:192.0.2.254"))
    #expect(Self.alerts(rules, [.dns(dns)]).first?.indicator?.indicator == "192.0.2.254/32")
  }

  /// One engine reads a lookup's answers afresh at each event: a lookup answered with no address
  /// or alias, a connection, and a lookup of other answers after a listed one match nothing of it
  /// (the engine keeps its answer buffers from event to event).
  @Test func eachLookupsAnswersAreItsOwn() throws {
    let directory = try RuleIntelListTests.Directory(["feed.txt": "evil.example\n", "feed.ip.txt": "192.0.2.254\n"])
    defer { directory.remove() }
    let rules = try Self.load(
      directory,
      Self.rules(
        """
        - list: {name: c2_domains, type: domain, match: suffix, files: [\(directory.path)/feed.txt]}
        - list: {name: c2_addresses, type: address, files: [\(directory.path)/feed.ip.txt]}
        """,
        condition: "dns.answers in c2_domains or dns.answers in c2_addresses"))
    func lookup(_ answers: [DNSEvent.Answer], at second: Int64) -> SensorEvent {
      guard case .dns(var dns) = Self.lookup(["x.example"], at: second) else { fatalError() }
      dns.answers = answers
      return .dns(dns)
    }
    let listedAddress = DNSEvent.Answer(name: "x.example", type: "A", timeToLive: 1, data: "192.0.2.254")
    let listedAlias = DNSEvent.Answer(name: "x.example", type: "CNAME", timeToLive: 1, data: "c.evil.example")
    let other = DNSEvent.Answer(name: "x.example", type: "A", timeToLive: 1, data: "192.0.2.1")
    let pointer = DNSEvent.Answer(name: "x.example", type: "PTR", timeToLive: 1, data: "c.evil.example")
    let alerts = Self.alerts(
      rules,
      [
        lookup([listedAddress, pointer], at: 0), lookup([pointer], at: 1), lookup([other], at: 2),
        Self.connection(to: "192.0.2.254", at: 3), lookup([], at: 4), lookup([other, listedAlias], at: 5),
        lookup([other], at: 6), lookup([listedAddress], at: 7),
      ])
    #expect(alerts.map { $0.timestamp / 1_000_000_000 } == [0, 5, 7])
    #expect(alerts.map { $0.indicator?.indicator } == ["192.0.2.254/32", "evil.example", "192.0.2.254/32"])
  }

  /// A list's inline items and each file are sets of their own; the alert names the narrowest
  /// indicator among them (longest prefix, longest listed suffix), not the first set's.
  @Test func theNarrowestIndicatorOfAnySetIsNamed() throws {
    let directory = try RuleIntelListTests.Directory([
      "feed.ip.txt": "10.1.2.3\n", "feed.txt": "c2.example.com\n",
    ])
    defer { directory.remove() }
    let rules = try Self.load(
      directory,
      Self.rules(
        """
        - list: {name: nets, type: address, items: [10.0.0.0/8], files: [\(directory.path)/feed.ip.txt]}
        - list: {name: names, type: domain, match: suffix, items: [example.com], files: [\(directory.path)/feed.txt]}
        """,
        condition: "remote in nets or dns.questions in names"))
    let host = Self.alerts(rules, [Self.connection(to: "10.1.2.3")]).first?.indicator
    #expect(host?.indicator == "10.1.2.3/32")
    #expect(host?.source == "\(directory.path)/feed.ip.txt:1")
    #expect(Self.alerts(rules, [Self.connection(to: "10.9.9.9")]).first?.indicator?.indicator == "10.0.0.0/8")
    let name = Self.alerts(rules, [Self.lookup(["x.c2.example.com"])]).first?.indicator
    #expect(name?.indicator == "c2.example.com")
    #expect(Self.alerts(rules, [Self.lookup(["www.example.com"])]).first?.indicator?.indicator == "example.com")
  }

  @Test func aZeekIntelFileKeepsItsTypesAndMetaSource() throws {
    let directory = try Directory(["feeds/acme.intel": Self.zeekIntel])
    defer { directory.remove() }
    let rules = try Self.load(
      directory,
      Self.rules(
        """
        - list: {name: zeek_domains, type: domain, files: [feeds/acme.intel], format: zeek-intel}
        - list: {name: zeek_addresses, type: address, files: [feeds/acme.intel], format: zeek-intel}
        """,
        condition: "dns.questions in zeek_domains or remote in zeek_addresses"))
    let summaries = Dictionary(uniqueKeysWithValues: rules.intelLists.map { ($0.name, $0) })
    #expect(summaries["zeek_domains"]?.indicators == 1)
    #expect(summaries["zeek_domains"]?.skipped == 2)
    #expect(summaries["zeek_addresses"]?.indicators == 1)
    let feed = directory.path + "/feeds/acme.intel"
    let lookup = Self.alerts(rules, [Self.lookup(["C2.example."])])
    #expect(lookup.first?.indicator?.source == "acme-feed (\(feed):2)")
    // The provider is the feed's meta.source, the same on every line (ECS threat.indicator.provider
    // held the line's position, one bucket per line); the position is kept apart.
    #expect(lookup.first?.indicator?.provider == "acme-feed")
    #expect(lookup.first?.indicator?.file == feed)
    #expect(lookup.first?.indicator?.line == 2)
    let address = Self.alerts(rules, [Self.connection(to: "203.0.113.99")]).first?.indicator
    #expect(address?.provider == "acme-feed")
    #expect(address?.line == 3)
    // Exact (the default): a subdomain is not the listed name.
    #expect(Self.alerts(rules, [Self.lookup(["a.c2.example"])]).isEmpty)
    #expect(Self.alerts(rules, [Self.connection(to: "203.0.113.99")]).first?.indicator?.list == "zeek_addresses")
  }

  @Test func inlineItemsMakeATypedListAndPortsAndStringsWork() throws {
    let directory = try Directory([:])
    defer { directory.remove() }
    let rules = try Self.load(
      directory,
      Self.rules(
        """
        - list: {name: bad_ports, type: port, items: [4444, 31337]}
        - list: {name: bad_tools, type: string, items: [nc, socat]}
        """,
        condition: "dst_port in bad_ports and process.comm in bad_tools"))
    #expect(rules.intelLists.map(\.indicators) == [2, 2])
    var event = Self.connection(to: "203.0.113.1")
    if case .flow(var flow) = event {
      flow.destination = Endpoint(IPAddress("203.0.113.1")!, 31337)
      flow.process = ProcessIdentity(pid: 1, uid: 0, command: "nc")
      event = .flow(flow)
    }
    #expect(Self.alerts(rules, [event]).count == 1)
    #expect(Self.alerts(rules, [Self.connection(to: "203.0.113.1")]).isEmpty)
  }

  // MARK: - Bad feeds and declarations

  @Test func anUnreadableFeedIsAnErrorNamingThePathAtItsItem() throws {
    let directory = try Directory([:])
    defer { directory.remove() }
    let errors = try Self.errors(
      directory,
      Self.rules(
        "- list:\n    name: c2\n    type: domain\n    files: [missing.txt]\n",
        condition: "remote_dns in c2"))
    let error = try #require(errors.first)
    #expect(error.message.contains(directory.path + "/missing.txt"))
    #expect(error.file == directory.path + "/rules.yaml" && error.line == 4 && error.column == 13)
  }

  @Test func aFeedThatIsNotARegularFileIsAnErrorNotAHang() throws {
    let directory = try Directory([:])
    defer { directory.remove() }
    let fifo = directory.path + "/feed.fifo"
    #expect(mkfifo(fifo, 0o600) == 0)
    for path in ["/dev/zero", fifo, directory.path] {
      let errors = try Self.errors(
        directory, Self.rules("- list: {name: c2, type: domain, files: [\(path)]}", condition: "remote_dns in c2"))
      #expect(errors.contains { $0.message.contains(path) && $0.message.contains("not a regular file") }, "\(errors)")
    }
  }

  @Test func aGlobMatchingNothingIsAWarningAndAnEmptyList() throws {
    let directory = try Directory([:])
    defer { directory.remove() }
    let rules = try Self.load(
      directory,
      Self.rules(
        "- list: {name: c2, type: domain, files: [none/*.txt, \(directory.path)/*.txt]}",
        condition: "remote_dns in c2"))
    #expect(rules.warnings.filter { $0.message.contains("no file matches") }.count == 2)
    #expect(rules.intelLists.first?.indicators == 0)
    #expect(Self.alerts(rules, [Self.connection(to: "203.0.113.1", names: ["a.example"])]).isEmpty)
    let optional = try Self.load(
      directory,
      Self.rules(
        "- list: {name: c2, type: domain, optional: true, files: [none/*.txt, \(directory.path)/*.txt]}",
        condition: "remote_dns in c2"))
    #expect(optional.warnings.isEmpty)
  }

  @Test(arguments: [
    ("- list: {name: l, files: [a.txt]}", "remote_dns in l", "add 'type'"),
    ("- list: {name: l, type: url, items: [a]}", "remote_dns in l", "'type' is one of"),
    ("- list: {name: l, type: address, match: suffix, items: [203.0.113.1]}", "remote in l", "domain lists only"),
    ("- list: {name: l, type: domain, format: csv, items: [a.example]}", "remote_dns in l", "needs 'column'"),
    ("- list: {name: l, type: domain, column: 2, items: [a.example]}", "remote_dns in l", "goes with 'format: csv'"),
    (
      "- list: {name: l, type: domain, format: json, items: [a.example]}", "remote_dns in l", "lines, csv or zeek-intel"
    ),
    (
      "- list: {name: l, type: domain, items: [a.example]}", "remote in l", "holds domain indicators, for string fields"
    ),
    (
      "- list: {name: l, type: address, items: [203.0.113.1]}", "remote_dns in l",
      "holds address indicators, for address fields and dns.answers"
    ),
    ("- list: {name: l, type: domain, items: [a.example]}", "remote_dns iendswith l", "takes 'in' only"),
    ("- list: {name: l, type: domain, items: ['bad name!']}", "remote_dns in l", "list 'l'"),
    ("- list: {name: l, type: domain, severity: urgent, items: [a.example]}", "remote_dns in l", "severity must be"),
  ])
  func malformedDeclarationsArePositionedErrors(list: String, condition: String, message: String) throws {
    let directory = try Directory([:])
    defer { directory.remove() }
    let errors = try Self.errors(directory, Self.rules(list, condition: condition))
    #expect(errors.contains { $0.message.contains(message) && $0.line >= 1 && $0.column > 1 }, "\(errors)")
  }

  @Test func typedListsAreBoundedInNumber() throws {
    let directory = try Directory([:])
    defer { directory.remove() }
    let lists = (0...RuleSetBuilder.maximumTypedLists).map { "- list: {name: p\($0), type: port, items: [1]}" }
    let errors = try Self.errors(directory, Self.rules(lists.joined(separator: "\n"), condition: "dst_port in p0"))
    #expect(
      errors.count == 1 && errors[0].message.contains("more than \(RuleSetBuilder.maximumTypedLists) typed lists"))
  }

  @Test func suppressingByIndicatorNeedsAnIntelTerm() throws {
    let directory = try Directory([:])
    defer { directory.remove() }
    let errors = try Self.errors(
      directory, Self.rules("", condition: "dst_port == 443", extra: "    suppress: {window: 1h, by: [indicator]}"))
    #expect(errors.contains { $0.message.contains("suppress by 'indicator'") })
  }

  // MARK: - Alerts

  static let lookupAndConnection = """
    - list: {name: c2, type: domain, match: suffix, files: [feed.txt], severity: critical}
    - list: {name: allow, type: domain, match: suffix, items: [cdn.evil.example]}
    """

  @Test func aLookupAndTheConnectionAfterItMakeOneAlertAndTheListSeverityWins() throws {
    let directory = try Directory(["feed.txt": "# feed\nevil.example\nother.example\n"])
    defer { directory.remove() }
    let rules = try Self.load(
      directory,
      Self.rules(
        Self.lookupAndConnection, condition: "remote_dns in c2 or dns.questions in c2",
        extra: """
              exceptions: [remote_dns in allow or dns.questions in allow]
              suppress: {window: 1h, by: [indicator]}
          """))
    let alerts = Self.alerts(
      rules,
      [
        Self.lookup(["www.evil.example"], at: 0),
        Self.connection(to: "203.0.113.1", names: ["www.evil.example"], at: 1),
        Self.lookup(["other.example"], at: 2),
        // The allowlist beats the feed.
        Self.lookup(["x.cdn.evil.example"], at: 3),
        Self.connection(to: "203.0.113.2", names: ["cdn.evil.example"], at: 4),
      ])
    #expect(alerts.map { $0.indicator?.indicator } == ["evil.example", "other.example"])
    #expect(alerts.allSatisfy { $0.severity == .critical })
    #expect(alerts.first?.indicator?.source == directory.path + "/feed.txt:2")
  }

  @Test func theShippedRulesLoadSilentlyWithoutFeeds() throws {
    let rules = try RuleLoader.loadChain(systemDirectory: nil, paths: [])
    #expect(!rules.warnings.contains { $0.message.contains("list '") })
    #expect(rules.intelLists.count == 6)
    let failed = RuleTestRunner.run(rules).filter { $0.ruleID.hasPrefix("FS-INTEL") && !$0.passed }
    #expect(failed.isEmpty)
    let alerts = Self.alerts(rules, [Self.lookup(["flowsentry-selftest.invalid"])])
    #expect(alerts.map(\.ruleID) == ["FS-INTEL-002"])
    #expect(alerts.first?.indicator?.list == "intel_domains")
  }
}

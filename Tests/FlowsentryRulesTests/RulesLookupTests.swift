import FlowsentryCore
import FlowsentryIntel
import FlowsentryTestSupport
import Foundation
import Testing

@testable import FlowsentryRules

/// `flowsentry rules lookup`: which typed lists the rules read hold a value, the indicator each
/// holds and where it came from, by the rules' own semantics (suffix, longest prefix, mapped IPv6).
@Suite struct RulesLookupTests {
  static let files = [
    "hosts.txt": "# feed\nevil.example\nexact.example\n",
    "blocks.txt": "203.0.113.0/24\n# the one host\n203.0.113.7\n",
    "feed.intel": """
    #fields\tindicator\tindicator_type\tmeta.source
    c2.zeek.example\tIntel::DOMAIN\tvendor-feed
    """,
    "rules.yaml": """
    - list: {name: c2, type: domain, match: suffix, files: [hosts.txt], severity: critical}
    - list: {name: exact_names, type: domain, files: [hosts.txt]}
    - list: {name: zeek, type: domain, match: suffix, files: [feed.intel], format: zeek-intel}
    - list: {name: blocks, type: address, files: [blocks.txt]}
    - list: {name: ports, type: port, items: [4444]}
    - list: {name: agents, type: string, items: [curl]}
    - list: {name: unread, type: domain, items: [evil.example]}
    - list: {name: disabled_only, type: domain, items: [evil.example]}
    - list: {name: allowed, type: domain, items: [cdn.evil.example]}
    - rule: {id: T-0, name: off, enabled: false, condition: remote_dns in disabled_only}
    - rule:
        id: T-1
        name: t
        events: [net_flow_tcp_begin, net_packet_dns]
        condition: >
          remote_dns in c2 or remote_dns in exact_names or dns.questions in zeek or remote in blocks
          or remote_port in ports or process.comm in agents
        exceptions: [remote_dns in allowed]
    """,
  ]

  static func loaded() throws -> (RuleSet, RuleIntelListTests.Directory) {
    let directory = try RuleIntelListTests.Directory(files)
    let rules = try RuleLoader.load(sources: [], paths: [directory.path + "/rules.yaml"])
    return (rules, directory)
  }

  @Test func aNameIsFoundUnderTheSuffixListsNameWithItsLineAndTheListsSeverity() throws {
    let (rules, directory) = try Self.loaded()
    defer { directory.remove() }
    let hosts = directory.path + "/hosts.txt"
    #expect(
      rules.listings(of: "A.Evil.Example.").map(\.description) == [
        "A.Evil.Example.: in c2 as evil.example from \(hosts):2, severity critical"
      ])
    // The exact list holds the name itself only; the suffix list holds it too.
    #expect(rules.listings(of: "exact.example").map(\.list) == ["c2", "exact_names"])
    #expect(rules.listings(of: "a.exact.example").map(\.list) == ["c2"])
    // At label boundaries only, and a list no rule reads is not consulted.
    #expect(rules.listings(of: "notevil.example").isEmpty)
    #expect(rules.listings(of: "evil.example").map(\.list) == ["c2", "exact_names"])
  }

  @Test func zeekIndicatorsNameTheirMetaSource() throws {
    let (rules, directory) = try Self.loaded()
    defer { directory.remove() }
    #expect(
      rules.listings(of: "x.c2.zeek.example").map(\.description) == [
        "x.c2.zeek.example: in zeek as c2.zeek.example from vendor-feed (\(directory.path)/feed.intel:2)"
      ])
  }

  @Test func anAddressIsFoundByLongestPrefixAndAMappedAddressAsIPv4() throws {
    let (rules, directory) = try Self.loaded()
    defer { directory.remove() }
    let blocks = directory.path + "/blocks.txt"
    #expect(
      rules.listings(of: "203.0.113.7").map(\.description) == [
        "203.0.113.7: in blocks as 203.0.113.7/32 from \(blocks):3"
      ])
    #expect(rules.listings(of: "203.0.113.9").map(\.indicator) == ["203.0.113.0/24"])
    #expect(rules.listings(of: "::ffff:203.0.113.9").map(\.indicator) == ["203.0.113.0/24"])
    #expect(rules.listings(of: "198.51.100.1").isEmpty)
  }

  @Test func portsAndStringsAreLookedUpInTheirOwnListsOnly() throws {
    let (rules, directory) = try Self.loaded()
    defer { directory.remove() }
    #expect(rules.listings(of: "4444").map(\.list) == ["ports"])
    #expect(rules.listings(of: "curl").map(\.list) == ["agents"])
    // Strings compare exactly.
    #expect(rules.listings(of: "Curl").isEmpty)
    #expect(rules.listings(of: "70000").isEmpty)
  }

  @Test func theCommandPrintsEachListingAndExitsByWhetherAnythingIsListed() throws {
    let directory = try RuleIntelListTests.Directory(Self.files)
    defer { directory.remove() }
    let rules = directory.path + "/rules.yaml"
    let found = try ChildProcess.run(
      RulesCommandExitTests.binary,
      ["rules", "lookup", "--no-default-rules", "--rules", rules, "a.evil.example", "198.51.100.1"])
    #expect(found.termination == .exited(0), "\(found.stderr)")
    #expect(
      found.stdout == """
        a.evil.example: in c2 as evil.example from \(directory.path)/hosts.txt:2, severity critical
        198.51.100.1: not listed

        """)
    let missing = try ChildProcess.run(
      RulesCommandExitTests.binary, ["rules", "lookup", "--no-default-rules", "--rules", rules, "good.example"])
    #expect(missing.termination == .exited(1))
    #expect(missing.stdout == "good.example: not listed\n")
    // Which lists were searched, so that a feed no enabled rule reads is not taken for a failed lookup.
    let searched = try #require(
      missing.stderr.split(separator: "\n").last { $0.hasPrefix("looked in the typed lists") })
    #expect(searched.contains(" c2 (2 indicators),"), "\(searched)")
    // 'unread' is loaded (rules check counts it) but no enabled rule tests it: not searched.
    #expect(!searched.contains("unread") && !searched.contains("disabled_only"), "\(searched)")
    #expect(missing.stderr.contains("a list no enabled rule tests is not searched"), "\(missing.stderr)")
    #expect(!found.stderr.contains("looked in"), "\(found.stderr)")
    try "- rule: {id: T-2, name: t, condition: remote_dns in nowhere}\n".write(
      toFile: directory.path + "/broken.yaml", atomically: true, encoding: .utf8)
    let broken = try ChildProcess.run(
      RulesCommandExitTests.binary,
      ["rules", "lookup", "--no-default-rules", "--rules", directory.path + "/broken.yaml", "evil.example"])
    #expect(broken.termination == .exited(2))
    #expect(broken.stderr.contains("broken.yaml:1:"), "\(broken.stderr)")
  }

  /// `--json`: a line a value that a playbook parses, with what the text says (severity, a block's
  /// covering and inside entries and the count not shown), a feed's or value's control characters
  /// escaped as JSON escapes them, and the same exit status.
  @Test func jsonLinesSayWhatTheTextSaysAndParse() throws {
    let directory = try RuleIntelListTests.Directory(Self.files)
    defer { directory.remove() }
    let run = try ChildProcess.run(
      RulesCommandExitTests.binary,
      [
        "rules", "lookup", "--no-default-rules", "--rules", directory.path + "/rules.yaml", "--json",
        "--inside-limit", "1", "cdn.evil.example", "203.0.0.0/16", "good\u{1B}[31m\u{202E}.example",
      ])
    #expect(run.termination == .exited(0), "\(run.stderr)")
    #expect(!run.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x202E }, "\(run.stdout)")
    let lines = run.stdout.split(separator: "\n").map(String.init)
    #expect(lines.count == 3, "\(run.stdout)")
    func object(_ line: String) throws -> [String: Any] {
      try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
    let name = try object(lines[0])
    #expect(name["value"] as? String == "cdn.evil.example")
    #expect(name["listed"] as? Bool == true)
    let nameLists = try #require(name["lists"] as? [[String: Any]])
    #expect(nameLists.map { $0["list"] as? String } == ["allowed", "c2"], "the lists' name order, as the text")
    #expect(nameLists.last?["indicator"] as? String == "evil.example")
    #expect(nameLists.last?["source"] as? String == "\(directory.path)/hosts.txt:2")
    #expect(nameLists.last?["severity"] as? String == "critical")
    #expect(nameLists.last?["relation"] as? String == "holds")
    #expect(nameLists.first?["severity"] == nil, "a list without its own severity")

    let block = try #require(try object(lines[1])["lists"] as? [[String: Any]])
    #expect(block.map { $0["relation"] as? String } == ["inside", "more_inside"], "\(block)")
    #expect(block.first?["indicator"] as? String == "203.0.113.0/24")
    #expect(block.last?["count"] as? Int == 1)
    #expect(block.last?["indicator"] == nil)

    let unlisted = try object(lines[2])
    #expect(unlisted["value"] as? String == "good\u{1B}[31m\u{202E}.example")
    #expect(unlisted["listed"] as? Bool == false)
    #expect((unlisted["lists"] as? [Any])?.isEmpty == true)

    let none = try ChildProcess.run(
      RulesCommandExitTests.binary,
      [
        "rules", "lookup", "--no-default-rules", "--rules", directory.path + "/rules.yaml", "--json", "--listed-only",
        "good.example",
      ])
    #expect(none.termination == .exited(1))
    #expect(none.stdout.isEmpty)
  }

  /// `-`: an incident report's indicators from stdin, one a line; comments, blank lines and CRLF
  /// skipped, a control character shown escaped rather than sent to the terminal.
  @Test func valuesFromStandardInputOnlyTheListedOnesWhenAsked() throws {
    let directory = try RuleIntelListTests.Directory(Self.files)
    defer { directory.remove() }
    let iocs = directory.path + "/iocs.txt"
    try "# from the report\n\nA.EVIL.example\r\n198.51.100.1\nbad\u{1B}[31m\n".write(
      toFile: iocs, atomically: true, encoding: .utf8)
    func lookUp(_ options: String) throws -> ChildProcess.Completed {
      try ChildProcess.run(
        "/bin/sh",
        [
          "-c", "exec \"$0\" rules lookup --no-default-rules --rules \"$1\" \(options) - < \"$2\"",
          RulesCommandExitTests.binary, directory.path + "/rules.yaml", iocs,
        ])
    }
    let listed = try lookUp("--listed-only")
    #expect(listed.termination == .exited(0), "\(listed.stderr)")
    #expect(
      listed.stdout == "A.EVIL.example: in c2 as evil.example from \(directory.path)/hosts.txt:2, severity critical\n")
    let all = try lookUp("")
    #expect(all.stdout.hasSuffix("198.51.100.1: not listed\n\"bad\\u{1B}[31m\": not listed\n"), "\(all.stdout)")
    #expect(!all.stdout.contains("\u{1B}"))
  }

  /// A disabled rule's list raises no alert and is not looked in; an exception's list is.
  @Test func onlyListsEnabledRulesTestAreLookedIn() throws {
    let (rules, directory) = try Self.loaded()
    defer { directory.remove() }
    #expect(rules.listings(of: "cdn.evil.example").map(\.list) == ["allowed", "c2"])
    #expect(!rules.listings(of: "evil.example").map(\.list).contains("disabled_only"))
  }

  /// A feed's bytes (a Zeek `meta.source`) are printed escaped: an escape sequence in a downloaded
  /// file must not rewrite the analyst's terminal.
  @Test func controlCharactersFromAFeedArePrintedEscaped() throws {
    let directory = try RuleIntelListTests.Directory([
      "feed.intel":
        "#fields\tindicator\tindicator_type\tmeta.source\nbad.example\tIntel::DOMAIN\tvendor\u{1B}[2K\u{202E}x\n",
      "rules.yaml": """
      - list: {name: zeek, type: domain, files: [feed.intel], format: zeek-intel}
      - rule: {id: T-1, name: t, condition: remote_dns in zeek}
      """,
    ])
    defer { directory.remove() }
    let rules = try RuleLoader.load(sources: [], paths: [directory.path + "/rules.yaml"])
    let line = try #require(rules.listings(of: "bad.example").first).description
    #expect(
      line == "bad.example: in zeek as bad.example from \"vendor\\u{1B}[2K\\u{202E}x (\(directory.path)/feed.intel:2)\""
    )
    #expect(!line.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x202E })
  }

  /// Reports defang their indicators and quote URLs: the host is what is looked up, the value as
  /// given is what is printed. A string list still compares the value exactly.
  @Test func defangedIndicatorsAndURLsAreLookedUpByTheirHost() throws {
    let (rules, directory) = try Self.loaded()
    defer { directory.remove() }
    #expect(rules.listings(of: "hxxps://user@A.Evil[.]example:8443/path?q=1").map(\.list) == ["c2"])
    #expect(rules.listings(of: "cdn(.)evil[dot]example").map(\.list) == ["allowed", "c2"])
    #expect(rules.listings(of: "203.0.113[.]7").map(\.indicator) == ["203.0.113.7/32"])
    #expect(rules.listings(of: "http://[::ffff:203.0.113.9]:80/").map(\.indicator) == ["203.0.113.0/24"])
    #expect(rules.listings(of: "hxxp://evil[.]example/").first?.value == "hxxp://evil[.]example/")
    #expect(RuleSet.refangedHost("not a url") == "not a url")
    #expect(RuleSet.refangedHost("evil.example") == "evil.example")
  }

  @Test func addressesInBracketsOrWithAZoneAreAddresses() throws {
    #expect(RuleSet.lookupAddress("[2001:db8::1]") == IPAddress("2001:db8::1"))
    #expect(RuleSet.lookupAddress("fe80::1%eth0") == IPAddress("fe80::1"))
    #expect(RuleSet.lookupAddress("203.0.113.7") == IPAddress("203.0.113.7"))
    #expect(RuleSet.lookupAddress("evil%example") == nil)
  }

  /// The monitor's configuration file decides the chain, as it does for the monitor.
  @Test func theConfigurationFilesRulesAreTheChainLookedIn() throws {
    let directory = try RuleIntelListTests.Directory(
      Self.files.merging(["config.yaml": "rules: [rules.yaml]\ndefault_rules: false\n"]) { first, _ in first })
    defer { directory.remove() }
    let result = try ChildProcess.run(
      RulesCommandExitTests.binary, ["rules", "lookup", "--config", directory.path + "/config.yaml", "x.evil.example"])
    #expect(result.termination == .exited(0), "\(result.stderr)")
    #expect(result.stdout.hasPrefix("x.evil.example: in c2 as evil.example"), "\(result.stdout)")
    let empty = try ChildProcess.run(RulesCommandExitTests.binary, ["rules", "lookup", " "])
    #expect(empty.termination != .exited(0) && empty.termination != .exited(1), "\(empty.stderr)")
  }

  @Test func theShippedRulesHoldTheirSelfTestIndicators() throws {
    let rules = try RuleLoader.load(sources: RuleLoader.builtInRules, paths: [])
    #expect(rules.listings(of: "flowsentry-selftest.invalid").map(\.list) == ["intel_domains"])
    #expect(rules.listings(of: "192.0.2.254").map(\.list) == ["intel_addresses"])
    // The allowlist's self-test address is in the feed list too, excepted there.
    let allowlisted = rules.listings(of: "192.0.2.253")
    #expect(allowlisted.map(\.list) == ["intel_addresses", "intel_allow_addresses"])
    #expect(allowlisted.map(\.exceptedBy) == [["intel_allow_addresses"], []])
  }
}

import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// `except:` on a typed list: an allowlist that excepts each value on its own, not the event.
@Suite struct IntelListExceptTests {
  typealias Support = RuleIntelListTests

  static func lookup(question: String, answers: [(type: String, data: String)]) -> SensorEvent {
    .dns(
      DNSEvent(
        timestamp: 0, source: Endpoint(IPAddress("198.51.100.53")!, 53),
        destination: Endpoint(IPAddress("198.51.100.2")!, 5353), transport: .udp, cgroupID: 0, id: 1,
        responseCode: 0, questions: [question],
        answers: answers.map { .init(name: question, type: $0.type, timeToLive: 60, data: $0.data) }, truncated: false))
  }

  static let lists = """
    - list: {name: c2_addresses, type: address, items: [203.0.113.0/24, 198.51.100.9], except: allow_addresses}
    - list: {name: allow_addresses, type: address, items: [203.0.113.80]}
    - list: {name: c2_domains, type: domain, match: suffix, items: [evil.example, cdn.example], except: [allow_domains]}
    - list: {name: allow_domains, type: domain, match: suffix, items: [good.cdn.example]}
    """

  @Test func anAllowlistedAnswerExceptsItselfAndNotTheListedAnswerBesideIt() throws {
    let directory = try Support.Directory([:])
    defer { directory.remove() }
    let rules = try Support.load(directory, Support.rules(Self.lists, condition: "dns.answers in c2_addresses"))
    // The first answer is in the listed block and allowlisted: the alert names the second.
    let both = Support.alerts(
      rules, [Self.lookup(question: "x.example", answers: [("A", "203.0.113.80"), ("A", "198.51.100.9")])])
    #expect(both.count == 1)
    #expect(both.first?.indicator?.indicator == "198.51.100.9/32")
    #expect(both.first?.indicator?.matchedValue == "198.51.100.9")
    // Allowlisted alone: no alert, though the block holds it.
    #expect(Support.alerts(rules, [Self.lookup(question: "x.example", answers: [("A", "203.0.113.80")])]).isEmpty)
    // Another address of the block is still listed, and an IPv4-mapped allowlisted one is excepted as IPv4.
    #expect(Support.alerts(rules, [Self.lookup(question: "x.example", answers: [("A", "203.0.113.81")])]).count == 1)
    #expect(
      Support.alerts(rules, [Self.lookup(question: "x.example", answers: [("AAAA", "::ffff:203.0.113.80")])]).isEmpty)
  }

  @Test func aConnectionToAnAllowlistedAddressInAListedBlockDoesNotMatch() throws {
    let directory = try Support.Directory([:])
    defer { directory.remove() }
    let rules = try Support.load(directory, Support.rules(Self.lists, condition: "remote in c2_addresses"))
    #expect(Support.alerts(rules, [Support.connection(to: "203.0.113.80")]).isEmpty)
    #expect(
      Support.alerts(rules, [Support.connection(to: "203.0.113.79")]).first?.indicator?.indicator == "203.0.113.0/24")
  }

  @Test func namesAreExceptedByTheAllowlistsOwnMatchingAndOnlyThoseItHolds() throws {
    let directory = try Support.Directory([:])
    defer { directory.remove() }
    let rules = try Support.load(directory, Support.rules(Self.lists, condition: "remote_dns in c2_domains"))
    func alerts(_ names: [String]) -> [Alert] {
      Support.alerts(rules, [Support.connection(to: "192.0.2.1", names: names)])
    }
    // Under an allowlisted suffix, in any case and with a final dot: excepted.
    #expect(alerts(["a.GOOD.cdn.example."]).isEmpty)
    #expect(alerts(["good.cdn.example"]).isEmpty)
    // The rest of the listed suffix is still listed, at label boundaries.
    #expect(alerts(["notgood.cdn.example"]).first?.indicator?.indicator == "cdn.example")
    // A chain: the allowlisted alias does not hide the listed name beside it, which the alert names.
    let chain = alerts(["a.good.cdn.example", "c2.evil.example"])
    #expect(chain.first?.indicator?.indicator == "evil.example")
    #expect(chain.first?.indicator?.matchedValue == "c2.evil.example")
  }

  @Test func stringAndPortListsExceptTheirValuesToo() throws {
    let directory = try Support.Directory([:])
    defer { directory.remove() }
    let rules = try Support.load(
      directory,
      Support.rules(
        """
        - list: {name: bad_ports, type: port, items: [4444, 8443], except: [ours]}
        - list: {name: ours, type: port, items: [8443]}
        - list: {name: tools, type: string, items: [nc, socat], except: trusted}
        - list: {name: trusted, type: string, items: [socat]}
        """,
        condition: "dst_port in bad_ports or process.comm in tools"))
    func connection(port: UInt16, command: String) -> SensorEvent {
      .flow(
        FlowEvent(
          name: .netFlowTCPBegin, timestamp: 0, direction: .outgoing,
          source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("192.0.2.1")!, port),
          process: ProcessIdentity(pid: 1, uid: 0, command: command)))
    }
    #expect(Support.alerts(rules, [connection(port: 4444, command: "curl")]).first?.indicator?.list == "bad_ports")
    #expect(Support.alerts(rules, [connection(port: 8443, command: "curl")]).isEmpty)
    #expect(Support.alerts(rules, [connection(port: 443, command: "nc")]).first?.indicator?.list == "tools")
    #expect(Support.alerts(rules, [connection(port: 443, command: "socat")]).isEmpty)
  }

  @Test func rulesCheckSaysWhatAListExceptsAndTheAllowlistCountsAsUsed() throws {
    let directory = try Support.Directory([:])
    defer { directory.remove() }
    let rules = try Support.load(directory, Support.rules(Self.lists, condition: "remote_dns in c2_domains"))
    let summary = try #require(rules.intelLists.first { $0.name == "c2_domains" })
    #expect(summary.except == ["allow_domains"])
    #expect(summary.description.hasSuffix(", except what allow_domains holds"))
    // allow_domains is read by the rule through c2_domains; the address lists are not used.
    #expect(!rules.warnings.contains { $0.message.contains("'allow_domains' is not used") })
    #expect(rules.warnings.contains { $0.message.contains("'allow_addresses' is not used") })
    // `rules lookup` looks in the allowlist too, since a rule reads it.
    #expect(rules.listings(of: "x.good.cdn.example").map(\.list) == ["allow_domains", "c2_domains"])
  }

  @Test(arguments: [
    ("- list: {name: l, type: domain, items: [a.example], except: nowhere}", "'except' names no list 'nowhere'"),
    ("- list: {name: l, type: domain, items: [a.example], except: l}", "cannot except itself"),
    (
      "- list: {name: l, type: domain, items: [a.example], except: a}\n- list: {name: a, type: address, items: [192.0.2.1]}",
      "'a' holds address indicators"
    ),
    (
      "- list: {name: l, type: domain, items: [a.example], except: p}\n- list: {name: p, items: [a.example]}",
      "'p' is a plain list"
    ),
    (
      "- list: {name: l, type: domain, items: [a.example], except: a}\n"
        + "- list: {name: a, type: domain, items: [b.example], except: b}\n"
        + "- list: {name: b, type: domain, items: [c.example]}",
      "'a' has an 'except' of its own"
    ),
    ("- list: {name: l, type: domain, items: [a.example], except: {x: 1}}", "'except' must be a list"),
  ])
  func badExceptsArePositionedErrors(lists: String, message: String) throws {
    let directory = try Support.Directory([:])
    defer { directory.remove() }
    let errors = try Support.errors(directory, Support.rules(lists, condition: "remote_dns in l"))
    #expect(errors.contains { $0.message.contains(message) && $0.line >= 1 && $0.column > 1 }, "\(errors)")
  }

  @Test func appendingToATypedListCannotChangeItsExcept() throws {
    let directory = try Support.Directory([:])
    defer { directory.remove() }
    let errors = try Support.errors(
      directory,
      Support.rules(
        """
        - list: {name: l, type: domain, items: [a.example]}
        - list: {name: a, type: domain, items: [b.example]}
        - list: {name: l, append: true, items: [c.example], except: a}
        """, condition: "remote_dns in l"))
    #expect(errors.contains { $0.message.contains("'except' belongs to the list it extends") }, "\(errors)")
  }
}

extension IntelListExceptTests {
  @Test func rulesLookupSaysWhichAllowlistExceptsAValue() throws {
    let directory = try Support.Directory([:])
    defer { directory.remove() }
    let rules = try Support.load(directory, Support.rules(Self.lists, condition: "remote_dns in c2_domains"))
    let excepted = rules.listings(of: "x.good.cdn.example").first { $0.list == "c2_domains" }
    #expect(excepted?.exceptedBy == ["allow_domains"])
    #expect(excepted?.description.hasSuffix("; excepted by allow_domains: no rule matches it by this list") == true)
    let json = IndicatorListing.jsonLine(value: "x.good.cdn.example", listings: excepted.map { [$0] } ?? [])
    #expect(json.contains(#""excepted_by":["allow_domains"]"#))
    let listed = rules.listings(of: "x.cdn.example").first { $0.list == "c2_domains" }
    #expect(listed?.exceptedBy == [])
    #expect(IndicatorListing.jsonLine(value: "x", listings: listed.map { [$0] } ?? []).contains("excepted_by") == false)
  }
}

extension IntelListExceptTests {
  @Test func replacingAListThatHadAnExceptWithoutOneWarnsAndExceptEmptySaysItIsMeant() throws {
    let directory = try Support.Directory([:])
    defer { directory.remove() }
    func warnings(_ replacement: String) throws -> [String] {
      try Support.load(
        directory,
        Support.rules(
          """
          - list: {name: c2, type: address, items: [203.0.113.0/24], except: ours}
          - list: {name: ours, type: address, items: [203.0.113.80]}
          \(replacement)
          """, condition: "remote in c2")
      ).warnings.map(\.message)
    }
    let dropped = try warnings("- list: {name: c2, type: address, items: [198.51.100.0/24], replace: true}")
    #expect(dropped.contains { $0.contains("which excepted what ours holds; this one excepts nothing") }, "\(dropped)")
    let kept = try warnings("- list: {name: c2, type: address, items: [198.51.100.0/24], except: ours, replace: true}")
    #expect(!kept.contains { $0.contains("excepts nothing") })
    let meant = try warnings("- list: {name: c2, type: address, items: [198.51.100.0/24], except: [], replace: true}")
    #expect(!meant.contains { $0.contains("excepts nothing") })
    #expect(meant.contains { $0.contains("'ours' is not used") })
  }

  @Test func aDeprecatedMacroWarnsAtEachUseAndNotWhenUnused() throws {
    let directory = try Support.Directory([:])
    defer { directory.remove() }
    let lists = """
      - macro: {name: old_way, condition: "dst_port == 22", deprecated: "use new_way"}
      """
    let used = try Support.load(directory, Support.rules(lists, condition: "old_way or dst_port == 23"))
    let warning = used.warnings.first { $0.message == "macro 'old_way' is deprecated: use new_way" }
    #expect(warning != nil, "\(used.warnings)")
    #expect(warning?.line == 6)
    let unused = try Support.load(directory, Support.rules(lists, condition: "dst_port == 23"))
    #expect(!unused.warnings.contains { $0.message.contains("old_way") }, "\(unused.warnings)")
    let errors = try Support.errors(
      directory, Support.rules("- macro: {name: m, condition: dst_port == 1, deprecated: ''}", condition: "m"))
    #expect(errors.contains { $0.message.contains("'deprecated' is a text") })
  }

  @Test func aBlockLookupMarksListingsWhenAnAllowlistCoversTheWholeBlock() throws {
    let directory = try Support.Directory([:])
    defer { directory.remove() }
    let rules = try Support.load(directory, Support.rules(Self.lists, condition: "remote in c2_addresses"))
    let covered = rules.listings(of: "203.0.113.80/32").filter { $0.list == "c2_addresses" }
    #expect(!covered.isEmpty && covered.allSatisfy { $0.exceptedBy == ["allow_addresses"] }, "\(covered)")
    let partly = rules.listings(of: "203.0.113.0/25").filter { $0.list == "c2_addresses" }
    #expect(!partly.isEmpty && partly.allSatisfy { $0.exceptedBy.isEmpty }, "\(partly)")
  }

  @Test func theShippedRulesUseNoDeprecatedMacroAndExceptTheirSelfTestAddress() throws {
    let rules = try RuleLoader.loadChain(systemDirectory: nil, paths: [])
    #expect(!rules.warnings.contains { $0.message.contains("deprecated") }, "\(rules.warnings)")
    let listing = rules.listings(of: "192.0.2.253").first { $0.list == "intel_addresses" }
    #expect(listing?.exceptedBy == ["intel_allow_addresses"])
  }
}

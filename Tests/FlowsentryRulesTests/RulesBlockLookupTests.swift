import FlowsentryCore
import FlowsentryIntel
import FlowsentryTestSupport
import Foundation
import Testing

@testable import FlowsentryRules

/// `flowsentry rules lookup 203.0.113.0/24`: an incident report's block, looked up in the address
/// lists as a block (the entries covering it, then those inside it, bounded), not as a name or an address.
@Suite struct RulesBlockLookupTests {
  static let files = [
    "blocks.txt": "203.0.113.0/24\n203.0.0.0/16\n# the one host\n203.0.113.7\n2001:db8::/32\n2001:db8:1::1\n",
    "many.txt": (0..<1_000).map { "198.51.\($0 / 200).\($0 % 200)" }.joined(separator: "\n") + "\n",
    "rules.yaml": """
    - list: {name: blocks, type: address, files: [blocks.txt], severity: high}
    - list: {name: many, type: address, files: [many.txt]}
    - list: {name: names, type: domain, match: suffix, items: [example]}
    - list: {name: texts, type: string, items: [203.0.113.0/24]}
    - rule:
        id: T-1
        name: t
        events: [net_flow_tcp_begin]
        condition: remote in blocks or remote in many or remote_dns in names or process.comm in texts
    """,
  ]

  static func loaded() throws -> (RuleSet, RuleIntelListTests.Directory) {
    let directory = try RuleIntelListTests.Directory(files)
    let rules = try RuleLoader.load(sources: [], paths: [directory.path + "/rules.yaml"])
    return (rules, directory)
  }

  @Test func aBlockListsTheEntriesCoveringItThenThoseInsideIt() throws {
    let (rules, directory) = try Self.loaded()
    defer { directory.remove() }
    let blocks = directory.path + "/blocks.txt"
    #expect(
      rules.listings(of: "203.0.113.0/24").map(\.description) == [
        "203.0.113.0/24: in blocks as 203.0.113.0/24 from \(blocks):1, covering the block (the most specific), severity high",
        "203.0.113.0/24: in blocks as 203.0.0.0/16 from \(blocks):2, covering the block, severity high",
        "203.0.113.0/24: in blocks as 203.0.113.7/32 from \(blocks):4, inside the block, severity high",
        // A string list still compares the value as given.
        "203.0.113.0/24: in texts as 203.0.113.0/24 from \(directory.path)/rules.yaml:4",
      ])
    #expect(
      rules.listings(of: "203.0.0.0/8").map(\.indicator) == ["203.0.0.0/16", "203.0.113.0/24", "203.0.113.7/32"])
    #expect(rules.listings(of: "203.0.0.0/8").map(\.relation) == [.insideBlock, .insideBlock, .insideBlock])
    // A /32 is a block too: every listed block holding it covers it.
    #expect(
      rules.listings(of: "203.0.113.7/32").map(\.indicator) == ["203.0.113.7/32", "203.0.113.0/24", "203.0.0.0/16"])
    // A name list is not asked about a block.
    #expect(rules.listings(of: "10.0.0.0/24").isEmpty)
  }

  @Test func ipv6MappedBracketedAndDefangedBlocks() throws {
    let (rules, directory) = try Self.loaded()
    defer { directory.remove() }
    let covering: [IndicatorRelation] = [.coversBlock(mostSpecific: true), .insideBlock]
    #expect(rules.listings(of: "2001:db8::/32").map(\.indicator) == ["2001:db8::/32", "2001:db8:1::1/128"])
    #expect(rules.listings(of: "[2001:db8::]/32").map(\.relation) == covering)
    #expect(rules.listings(of: "[2001:db8::/32]").map(\.relation) == covering)
    #expect(rules.listings(of: "2001:db8:1::/48").map(\.relation) == [.coversBlock(mostSpecific: true), .insideBlock])
    #expect(rules.listings(of: "::ffff:203.0.113.0/120").map(\.indicator).first == "203.0.113.0/24")
    #expect(rules.listings(of: "203.0.113[.]0/24").first?.indicator == "203.0.113.0/24")
    #expect(RuleSet.lookupBlock("203.0.113.0/+24") == nil)
    #expect(RuleSet.lookupBlock("203.0.113.0/33") == nil)
    #expect(RuleSet.lookupBlock("fe80::%eth0/64") == IPNetwork("fe80::/64"))
    #expect(RuleSet.lookupBlock("203.0.113.0") == nil)
  }

  @Test func hostBitsAreClearedAsInAFeed() throws {
    let (rules, directory) = try Self.loaded()
    defer { directory.remove() }
    #expect(
      rules.listings(of: "203.0.113.7/24").map(\.indicator)
        == Array(rules.listings(of: "203.0.113.0/24").map(\.indicator).dropLast()))
    #expect(RuleSet.blockClearingHostBits(of: "203.0.113.7/24") == IPNetwork("203.0.113.0/24"))
    #expect(RuleSet.blockClearingHostBits(of: "::ffff:203.0.113.7/120") == IPNetwork("203.0.113.0/24"))
    #expect(RuleSet.blockClearingHostBits(of: "203.0.113.0/24") == nil)
    #expect(RuleSet.blockClearingHostBits(of: "203.0.113.7") == nil)
  }

  @Test func theInsideEntriesAreBoundedAndTheRestCounted() throws {
    let (rules, directory) = try Self.loaded()
    defer { directory.remove() }
    let many = rules.listings(of: "198.51.0.0/16", insideLimit: 2)
    #expect(
      many.map(\.description) == [
        "198.51.0.0/16: in many as 198.51.0.0/32 from \(directory.path)/many.txt:1, inside the block",
        "198.51.0.0/16: in many as 198.51.0.1/32 from \(directory.path)/many.txt:2, inside the block",
        "198.51.0.0/16: in many, 998 more inside the block not shown",
      ])
    #expect(rules.listings(of: "198.51.0.0/16").count == RuleSet.defaultInsideLimit + 1)
    #expect(rules.listings(of: "198.51.0.0/16", insideLimit: 0).map(\.relation) == [.moreInsideBlock(1_000)])
  }

  @Test func theCommandBoundsTheInsideEntriesAndSaysWhenHostBitsWereCleared() throws {
    let directory = try RuleIntelListTests.Directory(Self.files)
    defer { directory.remove() }
    let rules = directory.path + "/rules.yaml"
    func lookUp(_ arguments: [String]) throws -> ChildProcess.Completed {
      try ChildProcess.run(
        RulesCommandExitTests.binary, ["rules", "lookup", "--no-default-rules", "--rules", rules] + arguments)
    }
    let bounded = try lookUp(["--inside-limit", "1", "198.51.0.0/16"])
    #expect(bounded.termination == .exited(0), "\(bounded.stderr)")
    #expect(
      bounded.stdout == """
        198.51.0.0/16: in many as 198.51.0.0/32 from \(directory.path)/many.txt:1, inside the block
        198.51.0.0/16: in many, 999 more inside the block not shown

        """)
    let byDefault = try lookUp(["198.0.0.0/8"])
    #expect(byDefault.stdout.split(separator: "\n").count == RuleSet.defaultInsideLimit + 1, "\(byDefault.stdout)")
    let cleared = try lookUp(["203.0.113.7/24"])
    #expect(cleared.termination == .exited(0))
    #expect(
      cleared.stderr.contains("203.0.113.7/24: host bits set; looked up as the block 203.0.113.0/24"),
      "\(cleared.stderr)")
    #expect(cleared.stdout.hasPrefix("203.0.113.7/24: in blocks as 203.0.113.0/24"), "\(cleared.stdout)")
    let nothing = try lookUp(["192.0.2.0/24"])
    #expect(nothing.termination == .exited(1))
    #expect(nothing.stdout == "192.0.2.0/24: not listed\n")
    let refused = try lookUp(["--inside-limit", "-1", "192.0.2.0/24"])
    #expect(refused.termination != .exited(0) && refused.termination != .exited(1), "\(refused.stderr)")
    // A typo in a block is said, not only answered "not listed".
    let typo = try lookUp(["203.0.113.0/33"])
    #expect(typo.termination == .exited(1))
    #expect(
      typo.stderr.contains("203.0.113.0/33: not a block: the prefix length after / must be 0 to 32"), "\(typo.stderr)")
  }

  @Test func aBlockWrittenWrongIsNamedAsSuch() {
    #expect(RuleSet.malformedBlock("10.1.2.0/33") != nil)
    #expect(RuleSet.malformedBlock("10.1.2.0/24x") != nil)
    #expect(RuleSet.malformedBlock("10.1.2.0/+2") != nil)
    #expect(RuleSet.malformedBlock("[2001:db8::]/129")?.contains("0 to 128") == true)
    #expect(RuleSet.malformedBlock("10.1.2.0/24") == nil)
    #expect(RuleSet.malformedBlock("evil.example/path") == nil)
    #expect(RuleSet.malformedBlock("10.1.2.3") == nil)
    // A second slash: no prefix length in digits, rather than the address before it silently not listed.
    #expect(RuleSet.malformedBlock("192.0.2.1/32/5")?.contains("0 to 32") == true)
    #expect(RuleSet.malformedBlock("[2001:db8::]/32/5")?.contains("0 to 128") == true)
    #expect(RuleSet.malformedBlock("192.0.2.1//32") != nil)
  }
}

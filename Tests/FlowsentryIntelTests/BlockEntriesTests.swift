import FlowsentryCore
import Testing

@testable import FlowsentryIntel

/// A block looked up in address lists: the listed blocks covering it, most specific first, and the
/// entries inside it in address order, bounded, with a count of them all.
@Suite struct BlockEntriesTests {
  func list(_ items: [String], file: String = "a.txt") throws -> IntelList {
    var builder = IntelListBuilder(name: "addresses", type: .address)
    try builder.loadFeed(items.joined(separator: "\n"), file: file, format: .lines)
    return builder.build()
  }

  func entries(_ list: IntelList, _ block: String, limit: Int = 100) -> (
    covering: [String], inside: [String], count: Int
  ) {
    let found = list.entries(of: IPNetwork(block)!, insideLimit: limit)
    return (found.covering.map(\.indicator), found.inside.map(\.indicator), found.insideCount)
  }

  static let nested = [
    "10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3", "10.1.3.0/24", "10.1.1.255", "10.1.4.0", "11.0.0.0/8",
    "2001:db8::/32",
  ]

  @Test func anIPv4BlockIsCoveredByBroaderOnesAndHoldsNarrowerOnes() throws {
    let addresses = try list(Self.nested)
    let found = entries(addresses, "10.1.2.0/23")
    #expect(found.covering == ["10.1.0.0/16", "10.0.0.0/8"])
    // The neighbours just below and above the block (10.1.1.255, 10.1.4.0) are not in it.
    #expect(found.inside == ["10.1.2.0/24", "10.1.2.3/32", "10.1.3.0/24"])
    #expect(found.count == 3)
    // A listed block equal to the one looked up covers it and is the most specific.
    let equal = entries(addresses, "10.1.0.0/16")
    #expect(equal.covering == ["10.1.0.0/16", "10.0.0.0/8"])
    #expect(equal.inside == ["10.1.1.255/32", "10.1.2.0/24", "10.1.2.3/32", "10.1.3.0/24", "10.1.4.0/32"])
    // Origins come along, as for a single address.
    let first = try #require(addresses.entries(of: IPNetwork("10.1.2.0/23")!, insideLimit: 1).inside.first)
    #expect(first.source == "a.txt:3")
    #expect(entries(addresses, "12.0.0.0/8") == ([], [], 0))
    // Blocks of one family hold none of the other's entries.
    #expect(entries(addresses, "0.0.0.0/0").inside.count == 8)
  }

  @Test func anIPv6BlockLikewise() throws {
    let addresses = try list([
      "2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::5", "2001:db8:1:ffff:ffff:ffff:ffff:ffff", "2001:db8:2::",
      "2001:db8:0:ffff:ffff:ffff:ffff:ffff", "10.0.0.0/8",
    ])
    let found = entries(addresses, "2001:db8:1::/48")
    #expect(found.covering == ["2001:db8:1::/48", "2001:db8::/32"])
    #expect(found.inside == ["2001:db8:1::5/128", "2001:db8:1:ffff:ffff:ffff:ffff:ffff/128"])
    #expect(entries(addresses, "::/0").count == 6)
    #expect(entries(addresses, "2001:db9::/32") == ([], [], 0))
  }

  /// A mapped block is the IPv4 block it stands for, as a mapped entry in a feed is.
  @Test func aMappedBlockIsTheIPv4Block() throws {
    let addresses = try list(["203.0.113.0/24", "::ffff:198.51.100.0/120", "::ffff:198.51.100.7", "203.0.113.9"])
    let mapped = entries(addresses, "::ffff:203.0.113.0/120")
    #expect(mapped.covering == ["203.0.113.0/24"])
    #expect(mapped.inside == ["203.0.113.9/32"])
    #expect(entries(addresses, "198.51.100.0/24").covering == ["198.51.100.0/24"])
    #expect(entries(addresses, "198.51.100.0/24").inside == ["198.51.100.7/32"])
    #expect(entries(addresses, "::ffff:0.0.0.0/96").count == 4)
    // Shorter than /96 it is an IPv6 block, and no IPv4 entry is in it.
    #expect(entries(addresses, "::/0") == ([], [], 0))
    #expect(IntelList.listedForm(of: IPNetwork("::ffff:203.0.113.7/120")!) == IPNetwork("203.0.113.0/24"))
  }

  @Test func theEdgesOfTheSpace() throws {
    let addresses = try list([
      "0.0.0.0/0", "0.0.0.0", "255.255.255.255", "::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120",
    ])
    let whole = entries(addresses, "0.0.0.0/0")
    #expect(whole.covering == ["0.0.0.0/0"])
    #expect(whole.inside == ["0.0.0.0/32", "255.255.255.255/32"])
    // A /32 has nothing inside it, and every block holding its address covers it.
    #expect(entries(addresses, "255.255.255.255/32") == (["255.255.255.255/32", "0.0.0.0/0"], [], 0))
    #expect(entries(addresses, "0.0.0.0/32") == (["0.0.0.0/32", "0.0.0.0/0"], [], 0))
    #expect(entries(addresses, "255.255.255.254/32") == (["0.0.0.0/0"], [], 0))
    let top = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    #expect(
      entries(addresses, top + "/128")
        == (["\(top)/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120", "::/0"], [], 0))
    #expect(entries(addresses, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120").inside == ["\(top)/128"])
    #expect(
      entries(addresses, "::/0") == (
        ["::/0"], ["::/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120", "\(top)/128"], 3
      ))
  }

  @Test func anEmptyListOrAnAbsentFamilyHoldsNothing() throws {
    let empty = try list([])
    #expect(entries(empty, "0.0.0.0/0") == ([], [], 0))
    #expect(entries(empty, "::/0") == ([], [], 0))
    let onlyIPv6 = try list(["2001:db8::1"])
    #expect(entries(onlyIPv6, "0.0.0.0/0") == ([], [], 0))
  }

  @Test func hostBitsAreClearedAsAFeedsAre() throws {
    let addresses = try list(Self.nested)
    #expect(entries(addresses, "10.1.2.3/16") == entries(addresses, "10.1.0.0/16"))
    #expect(IPNetwork("10.1.2.3/16")!.withHostBitsCleared == IPNetwork("10.1.0.0/16"))
    #expect(IPNetwork("2001:db8::1/0")!.withHostBitsCleared == IPNetwork("::/0"))
  }

  /// A /8 against a large feed: all counted, only the first read; past the range table's index too.
  @Test func theInsideEntriesAreBoundedAndCounted() throws {
    let addresses = try list((0..<5_000).map { "10.\($0 / 250).\($0 % 250).1" } + ["9.255.255.255", "11.0.0.0"])
    let found = entries(addresses, "10.0.0.0/8", limit: 3)
    #expect(found.inside == ["10.0.0.1/32", "10.0.1.1/32", "10.0.2.1/32"])
    #expect(found.count == 5_000)
    #expect(entries(addresses, "10.0.0.0/8", limit: 0).inside.isEmpty)
    #expect(entries(addresses, "10.19.0.0/16", limit: 1) == ([], ["10.19.0.1/32"], 250))
  }

  /// Random nested and neighbouring blocks in a small space, where blocks overlap often, against a
  /// scan of every entry.
  @Test(arguments: [1, 2, 3] as [UInt64]) func agreesWithAScanOfEveryEntry(seed: UInt64) throws {
    // Seeded, so that a failure names the draw that made it.
    var random = SeededRandom(seed: seed)
    var listed: [(network: UInt32, length: Int)] = []
    for _ in 0..<2_000 {
      let length = Int.random(in: 16...32, using: &random)
      let network = (0x0a00_0000 | UInt32.random(in: 0...0xffff, using: &random)) & UInt32.max << (32 - length)
      if !listed.contains(where: { $0 == (network, length) }) { listed.append((network, length)) }
    }
    let addresses = try list(listed.map { "\(IPAddress.v4($0.network))/\($0.length)" })
    for _ in 0..<500 {
      let length = Int.random(in: 12...32, using: &random)
      let network = (0x0a00_0000 | UInt32.random(in: 0...0xffff, using: &random)) & UInt32.max << (32 - length)
      func holds(_ outer: (network: UInt32, length: Int), _ inner: UInt32) -> Bool {
        outer.length == 0 || inner & UInt32.max << (32 - outer.length) == outer.network
      }
      let covering = listed.filter { $0.length <= length && holds($0, network) }.sorted { $0.length > $1.length }
      let inside = listed.filter { $0.length > length && holds((network, length), $0.network) }
        .sorted { ($0.network, $0.length) < ($1.network, $1.length) }
      let describe = { (block: (network: UInt32, length: Int)) in "\(IPAddress.v4(block.network))/\(block.length)" }
      let found = entries(addresses, "\(IPAddress.v4(network))/\(length)", limit: 10)
      #expect(found.covering == covering.map(describe))
      #expect(found.inside == inside.prefix(10).map(describe))
      #expect(found.count == inside.count)
    }
  }

  /// One rule list's inline items and files are separate sets: their covering entries narrowest
  /// first across the sets (what an alert names first), their inside entries merged in address
  /// order and bounded together.
  @Test func severalSetsMergeInAddressOrder() throws {
    let first = try list(["10.0.0.0/8", "10.0.0.5", "10.0.0.1"], file: "first.txt")
    let second = try list(["10.0.0.0/24", "10.0.0.3", "10.0.0.1"], file: "second.txt")
    let found = IntelList.entries(of: IPNetwork("10.0.0.0/16")!, in: [first, second], insideLimit: 4)
    #expect(found.covering.map(\.indicator) == ["10.0.0.0/8"])
    #expect(found.inside.map(\.indicator) == ["10.0.0.0/24", "10.0.0.1/32", "10.0.0.1/32", "10.0.0.3/32"])
    #expect(found.inside.map(\.origin.file) == ["second.txt", "first.txt", "second.txt", "second.txt"])
    #expect(found.insideCount == 5)
    let both = IntelList.entries(of: IPNetwork("10.0.0.0/26")!, in: [first, second], insideLimit: 0)
    #expect(both.covering.map(\.indicator) == ["10.0.0.0/24", "10.0.0.0/8"], "the later set's narrower block first")
    let equal = try list(["10.0.0.0/24"], file: "third.txt")
    let tie = IntelList.entries(of: IPNetwork("10.0.0.0/24")!, in: [equal, second], insideLimit: 0)
    #expect(tie.covering.map(\.source) == ["third.txt:1", "second.txt:1"], "of equal blocks, the earlier set's first")
  }
}

import FlowsentryCore
import Testing

@testable import FlowsentryIntel

@Suite struct AddressMatchingTests {
  func list(_ items: [String]) throws -> IntelList {
    var builder = IntelListBuilder(name: "addresses", type: .address)
    try builder.loadFeed(items.joined(separator: "\n"), file: "a.txt", format: .lines)
    return builder.build()
  }

  func indicator(_ list: IntelList, _ address: String) -> String? {
    list.match(address: IPAddress(address)!)?.indicator
  }

  @Test func longestPrefixWinsForIPv4() throws {
    let addresses = try list(["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3", "10.1.3.0/24"])
    #expect(indicator(addresses, "10.9.9.9") == "10.0.0.0/8")
    #expect(indicator(addresses, "10.1.9.9") == "10.1.0.0/16")
    #expect(indicator(addresses, "10.1.2.4") == "10.1.2.0/24")
    #expect(indicator(addresses, "10.1.2.3") == "10.1.2.3/32")
    #expect(indicator(addresses, "10.1.3.255") == "10.1.3.0/24")
    #expect(indicator(addresses, "10.1.4.0") == "10.1.0.0/16")
    #expect(indicator(addresses, "10.255.255.255") == "10.0.0.0/8")
    #expect(indicator(addresses, "11.0.0.0") == nil)
    #expect(indicator(addresses, "9.255.255.255") == nil)
    #expect(addresses.match(address: IPAddress("10.1.2.3")!)?.source == "a.txt:4")
  }

  @Test func theEdgesOfTheSpace() throws {
    let addresses = try list([
      "0.0.0.0/0", "255.255.255.255", "0.0.0.0/32", "::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ])
    #expect(indicator(addresses, "1.2.3.4") == "0.0.0.0/0")
    #expect(indicator(addresses, "255.255.255.255") == "255.255.255.255/32")
    #expect(indicator(addresses, "255.255.255.254") == "0.0.0.0/0")
    #expect(indicator(addresses, "0.0.0.0") == "0.0.0.0/32")
    #expect(indicator(addresses, "0.0.0.1") == "0.0.0.0/0")
    #expect(indicator(addresses, "2001:db8::1") == "::/0")
    #expect(
      indicator(addresses, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128")
  }

  @Test func longestPrefixWinsForIPv6() throws {
    let addresses = try list(["2001:db8::/32", "2001:db8:1::/48", "2001:db8:1::5", "2001:DB8:2::/48"])
    #expect(indicator(addresses, "2001:db8:9::1") == "2001:db8::/32")
    #expect(indicator(addresses, "2001:db8:1:ffff::1") == "2001:db8:1::/48")
    #expect(indicator(addresses, "2001:db8:1::5") == "2001:db8:1::5/128")
    #expect(indicator(addresses, "2001:db8:2::7") == "2001:db8:2::/48")
    #expect(indicator(addresses, "2001:db9::") == nil)
    #expect(indicator(addresses, "10.0.0.1") == nil)
  }

  @Test func mappedAddressesAreIPv4() throws {
    let addresses = try list(["203.0.113.0/24", "::ffff:198.51.100.0/120", "::ffff:192.0.2.1"])
    #expect(indicator(addresses, "::ffff:203.0.113.9") == "203.0.113.0/24")
    #expect(indicator(addresses, "198.51.100.200") == "198.51.100.0/24")
    #expect(indicator(addresses, "::ffff:198.51.100.200") == "198.51.100.0/24")
    #expect(indicator(addresses, "192.0.2.1") == "192.0.2.1/32")
    #expect(indicator(addresses, "::ffff:192.0.2.2") == nil)
  }

  @Test func hostBitsAreClearedAndDuplicatesCounted() throws {
    let addresses = try list(["10.1.2.3/24", "10.1.2.0/24", "10.1.2.200/24", "2001:db8::1/32", "2001:db8::/32"])
    #expect(addresses.count == 2)
    #expect(addresses.statistics.duplicates == 3)
    #expect(indicator(addresses, "10.1.2.9") == "10.1.2.0/24")
    // Of equal blocks the first line is kept.
    #expect(addresses.match(address: IPAddress("10.1.2.9")!)?.line == 1)
    #expect(addresses.match(address: IPAddress("2001:db8::9")!)?.line == 4)
  }

  @Test(arguments: [
    "1.2.3.4/33", "01.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1", "::g", "2001:db8::/129", "1.2.3.4/", "/8",
    "1.2.3.4/-1", "1.2.3.4/008x",
  ])
  func malformedAddressesAreRefused(text: String) throws {
    var builder = IntelListBuilder(name: "a", type: .address)
    try builder.loadFeed(text + "\n", file: "a.txt", format: .lines)
    #expect(builder.statistics.malformed == 1)
    #expect(builder.build().count == 0)
  }

  /// Random nested and overlapping blocks: the range table answers what a scan of every block for the
  /// longest one holding the address answers.
  @Test func agreesWithALinearLongestPrefixScan() throws {
    var blocks: [IPNetwork] = []
    var texts: [String] = []
    for _ in 0..<3_000 {
      let base = UInt32.random(in: 0...0xffff) << 16 | UInt32.random(in: 0...0xffff) & 0x0f0f
      let length = Int.random(in: 8...32)
      let text = "\(IPAddress.v4(base & (UInt32.max << (32 - length))))/\(length)"
      texts.append(text)
      blocks.append(IPNetwork(text)!)
    }
    for _ in 0..<1_000 {
      let high = UInt64.random(in: 0...3) << 62 | UInt64.random(in: 0...0xff)
      let length = Int.random(in: 1...128)
      let address = IPAddress.v6(high: high, low: UInt64.random(in: 0...0xffff))
      let network = IPNetwork("\(address)/\(length)")!
      let masked = try list(["\(address)/\(length)"]).match(address: address)!.indicator
      texts.append(masked)
      blocks.append(IPNetwork(masked)!)
      _ = network
    }
    let addresses = try list(texts)
    for _ in 0..<5_000 {
      let probe: IPAddress =
        Bool.random()
        ? .v4(blocks.randomElement()!.network.v4Value &+ UInt32.random(in: 0...0x3ff))
        : .v6(high: UInt64.random(in: 0...3) << 62 | UInt64.random(in: 0...0xff), low: UInt64.random(in: 0...0xffff))
      let best = blocks.filter { $0.contains(probe) }.max { $0.prefixLength < $1.prefixLength }
      #expect(addresses.match(address: probe)?.indicator == best?.description, "\(probe)")
    }
  }

  @Test func stringsAreExactAndPortsRangeChecked() throws {
    var strings = IntelListBuilder(name: "agents", type: .string)
    try strings.loadFeed("curl/8.0\nCurl/8.0\ncurl/8.0\n", file: "s.txt", format: .lines)
    let agents = strings.build()
    #expect(agents.count == 2)
    #expect(agents.statistics.duplicates == 1)
    #expect(agents.contains(string: "Curl/8.0"))
    #expect(!agents.contains(string: "CURL/8.0"))
    #expect(!agents.contains(string: "curl/8.0 "))

    var ports = IntelListBuilder(name: "ports", type: .port)
    try ports.loadFeed("4444\n65535\n0\n65536\n-1\n+22\n99999999\n", file: "p.txt", format: .lines)
    let portList = ports.build()
    #expect(portList.count == 3)
    #expect(portList.contains(port: 65_535))
    #expect(!portList.contains(port: 22))
    #expect(portList.statistics.malformed == 4)
    #expect(portList.match(port: 4444)?.source == "p.txt:1")
  }

  @Test func inlineItemsArePositioned() {
    var builder = IntelListBuilder(name: "inline", type: .address)
    let accepted = builder.addItem(" 203.0.113.0/24", file: "rules.yaml", line: 7, column: 12)
    let refused = !builder.addItem("203.0.113.0/40", file: "rules.yaml", line: 8, column: 12)
    #expect(accepted && refused)
    let list = builder.build()
    #expect(list.match(address: IPAddress("203.0.113.1")!)?.source == "rules.yaml:7")
    #expect(list.diagnostics.first.map { [$0.line, $0.column] } == [8, 12])
  }
}

extension IPAddress {
  fileprivate var v4Value: UInt32 {
    if case .v4(let value) = self { return value }
    return 0
  }
}

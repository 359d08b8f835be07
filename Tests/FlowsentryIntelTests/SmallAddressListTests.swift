import FlowsentryCore
import Testing

@testable import FlowsentryIntel

/// Address lists too short for the range table's 64 Ki index (a rule's inline items, an allowlist)
/// search all their ranges: they cost what they hold, and answer as the indexed tables do.
@Suite struct SmallAddressListTests {
  func list(_ items: [String]) throws -> IntelList { try AddressMatchingTests().list(items) }

  @Test func aShortListCostsWhatItHolds() throws {
    let one = try list(["192.0.2.254"])
    #expect(one.statistics.memoryBytes < 4_096, "\(one.statistics.memoryBytes) bytes for one address")
    let both = try list(["192.0.2.254", "2001:db8::1", "198.51.100.0/24"])
    #expect(both.statistics.memoryBytes < 4_096, "\(both.statistics.memoryBytes) bytes for three")
    // Past the threshold the index is there (its 257 Ki slots of 4 bytes).
    let long = try list((0..<2_000).map { "10.\($0 / 256).\($0 % 256).0/25" })
    #expect(long.statistics.memoryBytes > 65_537 * 4)
  }

  @Test func theWholeSpaceAndNestedBlocksWithoutTheIndex() throws {
    let everything = try list(["0.0.0.0/0", "::/0"])
    #expect(everything.match(address: IPAddress("203.0.113.9")!)?.indicator == "0.0.0.0/0")
    #expect(everything.match(address: IPAddress("2001:db8::9")!)?.indicator == "::/0")
    let nested = try list(["0.0.0.0/0", "10.0.0.0/8", "10.1.2.3"])
    #expect(nested.match(address: IPAddress("10.1.2.3")!)?.indicator == "10.1.2.3/32")
    #expect(nested.match(address: IPAddress("10.1.2.4")!)?.indicator == "10.0.0.0/8")
    #expect(nested.match(address: IPAddress("255.255.255.255")!)?.indicator == "0.0.0.0/0")
    #expect(nested.match(address: IPAddress("::1")!) == nil)
  }

  /// Random short lists of nested and overlapping blocks against a scan of every block.
  @Test func agreesWithALinearLongestPrefixScan() throws {
    var random = SystemRandomNumberGenerator()
    for _ in 0..<50 {
      var blocks: [IPNetwork] = []
      for _ in 0..<Int.random(in: 1...60, using: &random) {
        let base = UInt32.random(in: 0...0xff, using: &random) << 24 | UInt32.random(in: 0...0x3, using: &random) << 16
        let length = Int.random(in: 0...32, using: &random)
        blocks.append(IPNetwork("\(IPAddress.v4(length == 0 ? 0 : base & (UInt32.max << (32 - length))))/\(length)")!)
      }
      let addresses = try list(blocks.map(\.description))
      for block in blocks {
        for offset in [UInt32(0), 1, 0xffff, 0x3_ffff] {
          guard case .v4(let start) = block.network else { continue }
          let probe = IPAddress.v4(start &+ offset)
          let best = blocks.filter { $0.contains(probe) }.max { $0.prefixLength < $1.prefixLength }
          #expect(addresses.match(address: probe)?.indicator == best?.description, "\(probe) in \(blocks)")
        }
      }
    }
  }
}

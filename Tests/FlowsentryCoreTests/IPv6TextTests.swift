import Testing

@testable import FlowsentryCore

/// `IPAddress.strictIPv6` against the character-level `IPAddress(String)`: the same address for
/// every text both read, and the same verdict on every text of hex digits, colons and dots, except
/// the dotted-quad octets with a leading zero that the strict reader refuses.
@Suite struct IPv6TextTests {
  static func strict(_ text: String) -> IPAddress? {
    var text = text
    return text.withUTF8 { IPAddress.strictIPv6(UnsafeRawBufferPointer($0)) }
  }

  @Test func knownForms() {
    #expect(Self.strict("::") == IPAddress("::"))
    #expect(Self.strict("::1") == .v6(high: 0, low: 1))
    #expect(Self.strict("1::") == .v6(high: 1 << 48, low: 0))
    #expect(Self.strict("2001:DB8::ff00:42:8329") == IPAddress("2001:db8::ff00:42:8329"))
    #expect(Self.strict("2001:0db8:0000:0000:0000:ff00:0042:8329") == IPAddress("2001:db8::ff00:42:8329"))
    #expect(Self.strict("::ffff:192.0.2.1") == IPAddress("::ffff:192.0.2.1"))
    #expect(Self.strict("1:2:3:4:5:6:192.0.2.1") == IPAddress("1:2:3:4:5:6:c000:201"))
    for refused in [
      "", ":", ":::", "1:::2", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4::5:6:7:8", "12345::", "1:", ":1",
      "fe80::1%eth0",
      "[::1]", "::ffff:192.0.2.01", "::1.2.3", "1:2:3:4:5:6:7:1.2.3.4", "::g", "192.0.2.1",
    ] {
      #expect(Self.strict(refused) == nil, "\(refused)")
    }
  }

  @Test(arguments: [7, 8, 9] as [UInt64]) func agreesWithTheCharacterReader(seed: UInt64) {
    var random = SeededRandom(seed: seed)
    // Every address's own rendering, and uncompressed, upper-case and zero-padded renderings.
    for _ in 0..<2_000 {
      let zeros = Int.random(in: 0...8, using: &random)
      var groups = (0..<8).map { _ in UInt16.random(in: 0...UInt16.max, using: &random) }
      for index in (0..<8).shuffled(using: &random).prefix(zeros) { groups[index] = 0 }
      let high = groups[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
      let low = groups[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
      let address = IPAddress.v6(high: high, low: low)
      #expect(Self.strict(address.description) == address, "\(address)")
      let padded = groups.map {
        String(String($0, radix: 16).reversed()).padding(toLength: 4, withPad: "0", startingAt: 0)
      }
      .map { String($0.reversed()) }.joined(separator: ":")
      #expect(Self.strict(padded.uppercased()) == address, "\(padded)")
    }
    // Texts of the reader's alphabet: wherever the strict reader answers, it answers the same.
    let alphabet = Array("0123456789abcdefABCDEF::::...")
    for _ in 0..<20_000 {
      let text = String(
        (0..<Int.random(in: 1...24, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
      let strict = Self.strict(text)
      let characters = text.contains(":") ? IPAddress(text) : nil
      if let strict { #expect(characters == strict, "\(text)") }
      let leadingZeroOctet =
        text.split(separator: ":").last.map { tail in
          tail.contains(".") && tail.split(separator: ".").contains { $0.count > 1 && $0.first == "0" }
        } ?? false
      if characters != nil && !leadingZeroOctet { #expect(strict == characters, "\(text)") }
    }
  }
}

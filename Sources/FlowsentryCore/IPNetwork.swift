/// An IPv4 or IPv6 network: an address and a prefix length.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
  public var network: IPAddress
  public var prefixLength: Int

  /// "10.0.0.0/8", "fe80::/10", or a lone address (a /32 or /128); nil for anything else.
  public init?(_ text: String) {
    // Empty pieces are kept, so "", "/8" and "10.0.0.0/" are refused rather than guessed at.
    let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    guard let first = parts.first, let address = IPAddress(first) else { return nil }
    let maximum = address.isIPv4 ? 32 : 128
    let length = parts.count == 2 ? (parts[1].allSatisfy(\.isASCII) ? Int(parts[1]) : nil) : maximum
    guard let length, (0...maximum).contains(length) else { return nil }
    network = address
    prefixLength = length
  }

  /// `network`/`prefixLength` as given; nil for a length over the family's width or below 0.
  public init?(network: IPAddress, prefixLength: Int) {
    guard (0...(network.isIPv4 ? 32 : 128)).contains(prefixLength) else { return nil }
    self.network = network
    self.prefixLength = prefixLength
  }

  /// The block as a feed's entry is read: `203.0.113.7/24` is 203.0.113.0/24.
  public var withHostBitsCleared: IPNetwork {
    var cleared = self
    switch network {
    case .v4(let value):
      cleared.network = .v4(prefixLength == 0 ? 0 : value & UInt32.max << (32 - prefixLength))
    case .v6(let high, let low):
      let value = UInt128(high) << 64 | UInt128(low)
      let masked = prefixLength == 0 ? 0 : value & UInt128.max << (128 - prefixLength)
      cleared.network = .v6(high: UInt64(masked >> 64), low: UInt64(truncatingIfNeeded: masked))
    }
    return cleared
  }

  public func contains(_ address: IPAddress) -> Bool {
    switch (network, address) {
    case (.v4(let net), .v4(let candidate)):
      guard prefixLength > 0 else { return true }
      let mask = UInt32.max << (32 - prefixLength)
      return net & mask == candidate & mask
    case (.v6(let netHigh, let netLow), .v6(let high, let low)):
      if prefixLength <= 64 {
        let mask: UInt64 = prefixLength == 0 ? 0 : UInt64.max << (64 - prefixLength)
        return netHigh & mask == high & mask
      }
      let mask = UInt64.max << (128 - prefixLength)
      return netHigh == high && netLow & mask == low & mask
    default:
      return false
    }
  }
}

extension IPNetwork {
  public var description: String { "\(network)/\(prefixLength)" }

  /// The networks a host calls its own when nothing says otherwise, as Zeek does: RFC 1918,
  /// loopback and link-local for IPv4; loopback, RFC 4193 unique local and link-local for IPv6.
  public static let privateNetworks: [IPNetwork] = [
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "::1/128", "fc00::/7",
    "fe80::/10",
  ].map { IPNetwork($0)! }
}

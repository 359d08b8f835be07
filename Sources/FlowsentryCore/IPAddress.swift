/// An IPv4 or IPv6 address, stored inline (no allocation) so that events stay cheap to copy.
public enum IPAddress: Hashable, Sendable {
  /// Network byte order packed into the integer's big end: 127.0.0.1 is 0x7f00_0001.
  case v4(UInt32)
  /// The 16 bytes as two big-endian halves.
  case v6(high: UInt64, low: UInt64)

  /// Builds an address from network-order bytes: 4 for IPv4, 16 for IPv6.
  public init?<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
    switch bytes.count {
    case 4:
      self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
    case 16:
      let high = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
      let low = bytes.dropFirst(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
      self = .v6(high: high, low: low)
    default:
      return nil
    }
  }

  public var isIPv4: Bool {
    if case .v4 = self { return true }
    return false
  }

  /// The eight 16-bit groups of an IPv6 address.
  var groups: [UInt16] {
    guard case .v6(let high, let low) = self else { return [] }
    return (0..<4).map { UInt16(truncatingIfNeeded: high >> (48 - 16 * $0)) }
      + (0..<4).map { UInt16(truncatingIfNeeded: low >> (48 - 16 * $0)) }
  }
}

extension IPAddress {
  /// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it stands for; others unchanged.
  public var unmappingIPv4: IPAddress {
    if case .v6(let high, let low) = self, high == 0, low >> 32 == 0xffff {
      return .v4(UInt32(truncatingIfNeeded: low))
    }
    return self
  }
}

extension IPAddress: CustomStringConvertible {
  /// Dotted quad for IPv4; RFC 5952 canonical text for IPv6 (lower case, longest zero run as "::").
  public var description: String {
    switch self {
    case .v4(let value):
      return "\(value >> 24).\(value >> 16 & 0xff).\(value >> 8 & 0xff).\(value & 0xff)"
    case .v6:
      let groups = self.groups
      var bestStart = -1
      var bestLength = 1  // RFC 5952 4.2.2: a single zero group is not shortened
      var index = 0
      while index < 8 {
        guard groups[index] == 0 else {
          index += 1
          continue
        }
        let start = index
        while index < 8 && groups[index] == 0 { index += 1 }
        if index - start > bestLength {
          bestStart = start
          bestLength = index - start
        }
      }
      func hex(_ range: Range<Int>) -> String {
        range.map { String(groups[$0], radix: 16) }.joined(separator: ":")
      }
      if bestStart < 0 { return hex(0..<8) }
      let head = hex(0..<bestStart)
      let tail = hex((bestStart + bestLength)..<8)
      if bestStart == 0 && bestLength == 5 && groups[5] == 0xffff {
        // IPv4-mapped addresses keep their dotted tail (RFC 5952 section 5).
        let v4 = IPAddress.v4(UInt32(groups[6]) << 16 | UInt32(groups[7]))
        return "::ffff:\(v4)"
      }
      return head + "::" + tail
    }
  }
}

extension IPAddress {
  /// Parses dotted-quad IPv4 or IPv6 text (with "::" and an optional dotted IPv4 tail).
  public init?(_ text: some StringProtocol) {
    if text.contains(":") {
      guard let parsed = Self.parseIPv6(Substring(text)) else { return nil }
      self = parsed
    } else {
      guard let value = Self.parseIPv4(Substring(text)) else { return nil }
      self = .v4(value)
    }
  }

  /// A strict dotted quad over bytes: 1–3 digits an octet, 0–255, and a leading zero ("010", octal
  /// to some parsers) refused. For the hostile-input readers (feeds, recordings), which read bytes.
  public static func strictDottedQuad(_ bytes: UnsafeRawBufferPointer) -> UInt32? {
    var value: UInt32 = 0
    var octet: UInt32 = 0
    var digits = 0
    var dots = 0
    for byte in bytes {
      if byte == UInt8(ascii: ".") {
        guard digits > 0, dots < 3 else { return nil }
        value = value << 8 | octet
        octet = 0
        digits = 0
        dots += 1
      } else if byte &- UInt8(ascii: "0") < 10 {
        guard digits < 3, !(digits == 1 && octet == 0) else { return nil }
        octet = octet * 10 + UInt32(byte - UInt8(ascii: "0"))
        digits += 1
        guard octet <= 255 else { return nil }
      } else {
        return nil
      }
    }
    guard digits > 0, dots == 3 else { return nil }
    return value << 8 | octet
  }

  private static func parseIPv4(_ text: Substring) -> UInt32? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    var value: UInt32 = 0
    for part in parts {
      guard (1...3).contains(part.count), part.allSatisfy(\.isASCII), let octet = UInt8(part) else { return nil }
      value = value << 8 | UInt32(octet)
    }
    return value
  }

  private static func parseIPv6(_ text: Substring) -> IPAddress? {
    var groups: [UInt16] = []
    var tail: [UInt16] = []
    let halves = text.splitOnDoubleColon()
    guard halves.count <= 2 else { return nil }
    func parse(_ piece: Substring, into output: inout [UInt16], allowIPv4Tail: Bool) -> Bool {
      guard !piece.isEmpty else { return true }
      let fields = piece.split(separator: ":", omittingEmptySubsequences: false)
      for (index, field) in fields.enumerated() {
        if allowIPv4Tail && index == fields.count - 1 && field.contains(".") {
          guard let v4 = parseIPv4(field) else { return false }
          output.append(UInt16(v4 >> 16))
          output.append(UInt16(v4 & 0xffff))
        } else {
          guard (1...4).contains(field.count), let group = UInt16(field, radix: 16) else { return false }
          output.append(group)
        }
      }
      return true
    }
    guard parse(halves[0], into: &groups, allowIPv4Tail: halves.count == 1) else { return nil }
    if halves.count == 2 {
      guard parse(halves[1], into: &tail, allowIPv4Tail: true) else { return nil }
      guard groups.count + tail.count <= 7 else { return nil }
      groups += Array(repeating: 0, count: 8 - groups.count - tail.count) + tail
    }
    guard groups.count == 8 else { return nil }
    let high = groups[0..<4].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
    let low = groups[4..<8].reduce(UInt64(0)) { $0 << 16 | UInt64($1) }
    return .v6(high: high, low: low)
  }
}

extension Substring {
  /// Splits at each "::" (an IPv6 text has at most one).
  fileprivate func splitOnDoubleColon() -> [Substring] {
    var pieces: [Substring] = []
    var start = startIndex
    var index = startIndex
    while index < endIndex {
      let next = self.index(after: index)
      if self[index] == ":" && next < endIndex && self[next] == ":" {
        pieces.append(self[start..<index])
        index = self.index(after: next)
        start = index
      } else {
        index = next
      }
    }
    pieces.append(self[start..<endIndex])
    return pieces
  }
}

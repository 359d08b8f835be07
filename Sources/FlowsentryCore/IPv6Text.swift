extension IPAddress {
  /// An IPv6 address over bytes, as RFC 4291 writes them: eight groups of 1–4 hex digits, at most
  /// one `::` standing for one or more zero groups, and a strict dotted quad as the last two groups
  /// (`::ffff:192.0.2.1`). No zone, no brackets, no sign. For the per-event readers (a DNS answer's
  /// AAAA data on every lookup): `IPAddress(String)` takes a string apart by characters, which costs
  /// more than the lookup the address feeds.
  public static func strictIPv6(_ bytes: UnsafeRawBufferPointer) -> IPAddress? {
    guard bytes.count >= 2, bytes.count <= 45 else { return nil }
    var groups = (UInt64(0), UInt64(0))  // the 8 groups as 128 bits, filled from the left
    var count = 0  // groups written
    var gap: Int?  // how many groups came before `::`
    var index = 0
    func append(_ group: UInt64) {
      if count < 4 {
        groups.0 |= group << UInt64(48 - 16 * count)
      } else {
        groups.1 |= group << UInt64(48 - 16 * (count - 4))
      }
      count += 1
    }
    if bytes[0] == UInt8(ascii: ":") {
      guard bytes[1] == UInt8(ascii: ":") else { return nil }
      gap = 0
      index = 2
      if index == bytes.count { return .v6(high: 0, low: 0) }
    }
    while index < bytes.count {
      // One group, or a dotted quad ending the text.
      var end = index
      var value: UInt64 = 0
      while end < bytes.count, end - index < 4, let digit = Self.hexDigit(bytes[end]) {
        value = value << 4 | UInt64(digit)
        end += 1
      }
      if end < bytes.count, bytes[end] == UInt8(ascii: ".") {
        guard count <= 6, let quad = Self.strictDottedQuad(UnsafeRawBufferPointer(rebasing: bytes[index...])) else {
          return nil
        }
        append(UInt64(quad >> 16))
        append(UInt64(quad & 0xffff))
        index = bytes.count
        break
      }
      guard end > index, count < 8 else { return nil }
      append(value)
      index = end
      guard index < bytes.count else { break }
      guard bytes[index] == UInt8(ascii: ":") else { return nil }
      index += 1
      if index < bytes.count, bytes[index] == UInt8(ascii: ":") {
        guard gap == nil else { return nil }
        gap = count
        index += 1
      } else if index == bytes.count {
        return nil  // a trailing single colon
      }
    }
    if let gap {
      guard count < 8 else { return nil }
      // Move the groups after the gap to the right end.
      let total = (UInt128(groups.0) << 64) | UInt128(groups.1)
      let after = count - gap
      let headMask: UInt128 = gap == 0 ? 0 : ~(UInt128.max >> UInt128(16 * gap))
      let head = total & headMask
      let tail = after == 0 ? 0 : (total << UInt128(16 * gap)) >> UInt128(16 * (8 - after))
      let moved = head | tail
      return .v6(high: UInt64(moved >> 64), low: UInt64(truncatingIfNeeded: moved))
    }
    guard count == 8 else { return nil }
    return .v6(high: groups.0, low: groups.1)
  }

  @inline(__always)
  private static func hexDigit(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
  }
}

import FlowsentryCore

/// Why one field is not an indicator of its list's type; becomes a positioned diagnostic.
struct IndicatorError: Error {
  var message: String
}

/// The longest name DNS carries in text form, without the trailing dot (RFC 1035 section 2.3.4).
let maximumDomainLength = 253
let maximumLabelLength = 63
/// Longer strings are refused so that one entry's length fits the arena's 16-bit prefix with room.
let maximumStringLength = 4096

enum IndicatorParsing {
  /// Lower-cases `field` into `output` as a domain is stored: ASCII letters, digits, `-` and `_`,
  /// labels of 1–63 bytes, 253 bytes in all, one trailing dot dropped. Names are compared as on the
  /// wire, so an internationalized name must be written in punycode (`xn--…`); other bytes are refused.
  static func normalizeDomain(_ field: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(IndicatorError) {
    output.removeAll(keepingCapacity: true)
    var count = field.count
    if count > 0 && field[count - 1] == UInt8(ascii: ".") { count -= 1 }
    guard count > 0 else { throw IndicatorError(message: "empty domain name") }
    guard count <= maximumDomainLength else {
      throw IndicatorError(message: "domain name longer than \(maximumDomainLength) bytes")
    }
    var labelLength = 0
    for index in 0..<count {
      let byte = field[index]
      switch byte {
      case UInt8(ascii: "."):
        guard labelLength > 0 else { throw IndicatorError(message: "empty label in domain name") }
        labelLength = 0
        output.append(byte)
        continue
      case UInt8(ascii: "A")...UInt8(ascii: "Z"):
        output.append(byte | 0x20)
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"),
        UInt8(ascii: "_"):
        output.append(byte)
      case 0x80...:
        throw IndicatorError(
          message: "domain name is not ASCII; write internationalized names in punycode (xn--…), as on the wire")
      default:
        throw IndicatorError(message: "character '\(printable(byte))' not allowed in a domain name")
      }
      labelLength += 1
      guard labelLength <= maximumLabelLength else {
        throw IndicatorError(message: "label longer than \(maximumLabelLength) bytes in domain name")
      }
    }
    guard labelLength > 0 else { throw IndicatorError(message: "empty label in domain name") }
  }

  /// An address (a /32 or /128) or a CIDR block; host bits under the prefix are cleared, and an
  /// IPv4-mapped IPv6 block of /96 or longer becomes the IPv4 block it stands for.
  static func parseNetwork(_ field: UnsafeRawBufferPointer) throws(IndicatorError) -> (IPAddress, Int) {
    var addressEnd = field.count
    var length: Int?
    for index in 0..<field.count where field[index] == UInt8(ascii: "/") {
      addressEnd = index
      length = try parsePrefixLength(UnsafeRawBufferPointer(rebasing: field[(index + 1)...]))
      break
    }
    let addressBytes = UnsafeRawBufferPointer(rebasing: field[0..<addressEnd])
    guard let address = parseIPv4(addressBytes).map(IPAddress.v4) ?? parseOtherAddress(addressBytes) else {
      throw IndicatorError(message: "'\(text(addressBytes))' is not an IPv4 or IPv6 address")
    }
    switch address {
    case .v4(let value):
      let prefix = length ?? 32
      guard prefix <= 32 else { throw IndicatorError(message: "prefix length \(prefix) is over 32 for IPv4") }
      return (.v4(prefix == 0 ? 0 : value & (UInt32.max << (32 - prefix))), prefix)
    case .v6(let high, let low):
      let prefix = length ?? 128
      guard prefix <= 128 else { throw IndicatorError(message: "prefix length \(prefix) is over 128 for IPv6") }
      let value = UInt128(high) << 64 | UInt128(low)
      let masked = prefix == 0 ? 0 : value & (UInt128.max << (128 - prefix))
      if prefix >= 96 && masked >> 32 == 0xffff {
        return (.v4(UInt32(truncatingIfNeeded: masked)), prefix - 96)
      }
      return (.v6(high: UInt64(masked >> 64), low: UInt64(truncatingIfNeeded: masked)), prefix)
    }
  }

  /// Decimal 0–65535, digits only.
  static func parsePort(_ field: UnsafeRawBufferPointer) throws(IndicatorError) -> UInt16 {
    guard let value = parseDecimal(field, maximum: 65_535) else {
      throw IndicatorError(message: "'\(text(field))' is not a port number (0–65535)")
    }
    return UInt16(value)
  }

  private static func parsePrefixLength(_ field: UnsafeRawBufferPointer) throws(IndicatorError) -> Int {
    guard let value = parseDecimal(field, maximum: 128) else {
      throw IndicatorError(message: "'\(text(field))' is not a prefix length (0–128)")
    }
    return value
  }

  /// Digits only, at most 5 of them, and not above `maximum`; nil otherwise.
  static func parseDecimal(_ field: UnsafeRawBufferPointer, maximum: Int) -> Int? {
    guard (1...5).contains(field.count) else { return nil }
    var value = 0
    for byte in field {
      guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
      value = value * 10 + Int(byte - UInt8(ascii: "0"))
    }
    return value <= maximum ? value : nil
  }

  /// Dotted quad, 1–3 digits an octet, 0–255; a leading zero ("010", octal to some parsers) is refused.
  static func parseIPv4(_ field: UnsafeRawBufferPointer) -> UInt32? { IPAddress.strictDottedQuad(field) }

  /// Whether no DNS name as capture writes it (lower case, every byte outside printable ASCII as
  /// `\DDD`, no leading or final dot) can equal `field`: the test the rule loader makes of a string
  /// list's inline items, byte for byte (ConditionWarnings.swift), made of its feeds' strings.
  static func isUnlikeAnyName(_ field: UnsafeRawBufferPointer) -> Bool {
    if field.count > 1, field.first == UInt8(ascii: ".") || field.last == UInt8(ascii: ".") { return true }
    return field.contains { byte in
      (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || byte <= 0x20 || byte >= 0x7f
    }
  }

  fileprivate static func parseOtherAddress(_ field: UnsafeRawBufferPointer) -> IPAddress? {
    guard field.count <= 45, field.contains(UInt8(ascii: ":")) else { return nil }
    return IPAddress(String(decoding: field, as: UTF8.self))
  }

  static func text(_ field: UnsafeRawBufferPointer) -> String {
    let shown = String(decoding: field.prefix(80), as: UTF8.self)
    return field.count > 80 ? shown + "…" : shown
  }

  private static func printable(_ byte: UInt8) -> String {
    (0x20..<0x7f).contains(byte) ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
  }
}

extension IndicatorParsing {
  /// Whether `field` is a lone IPv4 or IPv6 address (the first field of a hosts-file line).
  static func isAddress(_ field: UnsafeRawBufferPointer) -> Bool {
    parseIPv4(field) != nil || parseOtherAddress(field) != nil
  }
}

extension IndicatorParsing {
  /// The broadest blocks kept without a warning: a feed entry broader than these is more likely a
  /// mistake (`::ffff:0:0/96` is 0.0.0.0/0) than a network someone means to alert on.
  static let broadestQuietIPv4Prefix = 8
  static let broadestQuietIPv6Prefix = 16

  /// Whether `field` is an IP address or block (`1.2.3.4`, `[::1]`, `::1`, `10.0.0.0/8`), which no
  /// name ever equals.
  static func isAddressLiteral(_ field: UnsafeRawBufferPointer) -> Bool {
    var body = field
    if body.count >= 2 && body[0] == UInt8(ascii: "[") && body[body.count - 1] == UInt8(ascii: "]") {
      body = UnsafeRawBufferPointer(rebasing: body[1..<(body.count - 1)])
    }
    if let slash = body.firstIndex(of: UInt8(ascii: "/")) {
      body = UnsafeRawBufferPointer(rebasing: body[..<slash])
    }
    return isAddress(body)
  }

  /// Why a domain list refuses `field`, an address (`isAddressLiteral`).
  static func addressInDomainList(_ field: UnsafeRawBufferPointer) -> IndicatorError {
    IndicatorError(
      message: "'\(text(field))' is an IP address, which no name equals; put it in an address list (type: address), "
        + "which `remote` and `dns.answers` are tested against")
  }

  /// Refuses a single-label name read from a feed (`normalized`, as `normalizeDomain` wrote it): in a
  /// suffix list it would match every name under that top-level domain, and in either kind it is
  /// usually a hosts file's header (`127.0.0.1 localhost`). A rule's `items:` may still list one.
  static func checkFeedDomain(_ normalized: [UInt8], match: DomainMatch) throws(IndicatorError) {
    guard !normalized.contains(UInt8(ascii: ".")) else { return }
    let name = String(decoding: normalized, as: UTF8.self)
    switch match {
    case .suffix:
      throw IndicatorError(
        message: "'\(name)' is a single label, which would match every name under that top-level domain; "
          + "write it inline in `items:` if you mean it")
    case .exact:
      throw IndicatorError(
        message: "'\(name)' is a single label, refused from a feed (a hosts file's header, or a name cut short); "
          + "write it inline in `items:` if you mean it")
    }
  }

  /// Why a block (as `parseNetwork` gave it) is broad enough to warn of, or nil: an IPv4 block
  /// broader than /8, an IPv6 block broader than /16; an IPv4-mapped block counts as its IPv4 block.
  static func broadBlockWarning(_ field: UnsafeRawBufferPointer, network: IPAddress, length: Int) -> String? {
    let family: String
    let block: String
    switch network {
    case .v4(let value):
      guard length < broadestQuietIPv4Prefix else { return nil }
      family = "IPv4"
      block = "\(IPAddress.v4(value))/\(length)"
    case .v6:
      guard length < broadestQuietIPv6Prefix else { return nil }
      family = "IPv6"
      block = "\(network)/\(length)"
    }
    let share = length == 0 ? "every \(family) address" : "1 in \(1 << length) \(family) addresses"
    let limit = family == "IPv4" ? broadestQuietIPv4Prefix : broadestQuietIPv6Prefix
    let written = text(field)
    let named = written == block ? "'\(block)'" : "'\(written)' (\(block))"
    return "\(named) is broader than /\(limit) and matches \(share); kept, but an entry this broad "
      + "is usually a mistake"
  }
}

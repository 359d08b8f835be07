import FlowsentryCore

/// Writes JSON fragments through a pointer into space reserved beforehand, so that an event costs
/// one capacity check instead of one per fragment (the monitor encodes every event it prints).
///
/// Nothing here checks bounds: whoever reserves the space adds up the `…Bound`s of what it writes.
struct JSONWriter {
  private let start: UnsafeMutablePointer<UInt8>
  private var position: UnsafeMutablePointer<UInt8>

  init(_ start: UnsafeMutablePointer<UInt8>) {
    self.start = start
    position = start
  }

  var count: Int { position - start }

  /// At most what `string` writes for `value`: every byte escaped as \u00XX, and the quotes.
  static func stringBound(_ value: String) -> Int { value.utf8.count * 6 + 2 }
  static func stringsBound(_ values: [String]) -> Int { values.reduce(2) { $0 + stringBound($1) + 1 } }
  /// An integer of any width with its sign.
  static let integerBound = 20
  /// The longest address text: IPv6 with an embedded IPv4 (45 characters).
  static let addressBound = 45
  /// "1:" and 28 base64 characters.
  static let communityIDBound = 30
  /// "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ", with room for any year an Int64 of nanoseconds reaches.
  static let timeBound = 32

  mutating func byte(_ value: UInt8) {
    position.initialize(to: value)
    position += 1
  }

  mutating func raw(_ text: StaticString) {
    let length = text.utf8CodeUnitCount
    position.initialize(from: text.utf8Start, count: length)
    position += length
  }

  mutating func bytes(_ buffer: UnsafeRawBufferPointer) {
    guard let base = buffer.baseAddress else { return }
    UnsafeMutableRawPointer(position).copyMemory(from: base, byteCount: buffer.count)
    position += buffer.count
  }

  mutating func bytes(_ array: [UInt8]) {
    array.withUnsafeBytes { bytes($0) }
  }

  mutating func integer<Number: BinaryInteger>(_ value: Number) {
    if value < 0 {
      byte(UInt8(ascii: "-"))
      // Two's complement magnitude, so that the minimum value prints too.
      unsigned(UInt64(truncatingIfNeeded: 0 &- Int64(value)))
    } else {
      unsigned(UInt64(value))
    }
  }

  /// Decimal digits, two per 64-bit division, written back to front into their place.
  mutating func unsigned(_ value: UInt64, minimumDigits: Int = 1) {
    // Most integers of an event are counters and deltas that are still 0–9.
    if value < 10 && minimumDigits <= 1 {
      byte(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
      return
    }
    let digits = max(minimumDigits, Self.digitCount(value))
    var end = position + digits
    var rest = value
    let pairs = Self.digitPairs.utf8Start
    while rest >= 10 {
      let pair = Int(truncatingIfNeeded: rest % 100)
      rest /= 100
      end -= 2
      end[0] = pairs[2 &* pair]
      end[1] = pairs[2 &* pair &+ 1]
    }
    // Left: one digit (0 when the pairs used them all), then the zeros of `minimumDigits`.
    if end > position {
      end -= 1
      end[0] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest)
    }
    while end > position {
      end -= 1
      end[0] = UInt8(ascii: "0")
    }
    position += digits
  }

  /// "00", "01", … "99": two digits per table read instead of a division and a remainder.
  private static let digitPairs: StaticString =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

  private static func digitCount(_ value: UInt64) -> Int {
    // The bit length gives the digit count or one less (2^b spans at most one power of ten).
    let bits = 64 - value.leadingZeroBitCount
    let guess = (bits &* 1233) >> 12
    return max(1, guess + (value >= powersOfTen[guess] ? 1 : 0))
  }

  /// 10^0 … 10^19, the largest that fits.
  private static let powersOfTen: [UInt64] = (0..<20).map { exponent in
    (0..<exponent).reduce(1) { power, _ in power &* 10 }
  }

  mutating func address(_ address: IPAddress) {
    guard case .v4(let value) = address else {
      var text = address.description
      text.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
      return
    }
    unsigned(UInt64(value >> 24))
    byte(UInt8(ascii: "."))
    unsigned(UInt64(value >> 16 & 0xff))
    byte(UInt8(ascii: "."))
    unsigned(UInt64(value >> 8 & 0xff))
    byte(UInt8(ascii: "."))
    unsigned(UInt64(value & 0xff))
  }

  /// A JSON string literal (RFC 8259 escaping; other control characters as \u00XX).
  mutating func string(_ value: String) {
    byte(UInt8(ascii: "\""))
    var copy = value
    copy.withUTF8 { utf8 in
      for byte in utf8 {
        switch byte {
        case UInt8(ascii: "\""): escaped(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): escaped(UInt8(ascii: "\\"))
        case UInt8(ascii: "\n"): escaped(UInt8(ascii: "n"))
        case UInt8(ascii: "\r"): escaped(UInt8(ascii: "r"))
        case UInt8(ascii: "\t"): escaped(UInt8(ascii: "t"))
        case 0..<0x20:
          raw("\\u00")
          Self.hexDigits.withUTF8Buffer { hex in
            self.byte(hex[Int(byte >> 4)])
            self.byte(hex[Int(byte & 0xf)])
          }
        default: self.byte(byte)
        }
      }
    }
    byte(UInt8(ascii: "\""))
  }

  private mutating func escaped(_ character: UInt8) {
    byte(UInt8(ascii: "\\"))
    byte(character)
  }

  private static let hexDigits: StaticString = "0123456789abcdef"

  mutating func strings(_ values: [String]) {
    byte(UInt8(ascii: "["))
    for (index, value) in values.enumerated() {
      if index > 0 { byte(UInt8(ascii: ",")) }
      string(value)
    }
    byte(UInt8(ascii: "]"))
  }

  /// RFC 3339 UTC with nanoseconds, from nanoseconds since the Unix epoch. Events come in bursts
  /// within a second, so a sink passes a cache of the "YYYY-MM-DDTHH:MM:SS." part.
  mutating func rfc3339(nanoseconds: Int64, cache: EncodingCache? = nil) {
    let second = nanoseconds >= 0 ? nanoseconds / 1_000_000_000 : (nanoseconds - 999_999_999) / 1_000_000_000
    if let cache {
      cache.writePrefix(forSecond: second, to: &self)
    } else {
      secondPrefix(second)
    }
    unsigned(UInt64(nanoseconds - second * 1_000_000_000), minimumDigits: 9)
    byte(UInt8(ascii: "Z"))
  }

  /// "YYYY-MM-DDTHH:MM:SS." for a second since the epoch.
  mutating func secondPrefix(_ second: Int64) {
    let civil = CivilTime(nanoseconds: second * 1_000_000_000)
    unsigned(UInt64(civil.year), minimumDigits: 4)
    byte(UInt8(ascii: "-"))
    unsigned(UInt64(civil.month), minimumDigits: 2)
    byte(UInt8(ascii: "-"))
    unsigned(UInt64(civil.day), minimumDigits: 2)
    byte(UInt8(ascii: "T"))
    unsigned(UInt64(civil.secondOfDay / 3600), minimumDigits: 2)
    byte(UInt8(ascii: ":"))
    unsigned(UInt64(civil.secondOfDay / 60 % 60), minimumDigits: 2)
    byte(UInt8(ascii: ":"))
    unsigned(UInt64(civil.secondOfDay % 60), minimumDigits: 2)
    byte(UInt8(ascii: "."))
  }
}

extension Array where Element == UInt8 {
  /// Appends what `body` writes, at most `maximum` bytes: one reservation for many fragments.
  @inline(__always)
  mutating func appendWriting(atMost maximum: Int, _ body: (inout JSONWriter) -> Void) {
    let start = count
    append(contentsOf: repeatElement(0, count: maximum))
    let written = withUnsafeMutableBufferPointer { buffer in
      var writer = JSONWriter(buffer.baseAddress! + start)
      body(&writer)
      return writer.count
    }
    precondition(written <= maximum, "JSON fragment longer than its bound")
    removeLast(maximum - written)
  }

  /// The same, written first into the cache's scratch space and then copied: what is copied is
  /// what was written, where the other form fills the whole bound with zeros first.
  @inline(__always)
  mutating func appendWriting(
    atMost maximum: Int, scratch cache: EncodingCache?, _ body: (inout JSONWriter) -> Void
  ) {
    guard let cache else { return appendWriting(atMost: maximum, body) }
    let scratch = cache.scratch(atLeast: maximum)
    var writer = JSONWriter(scratch)
    body(&writer)
    let written = writer.count
    precondition(written <= maximum, "JSON fragment longer than its bound")
    append(contentsOf: UnsafeBufferPointer(start: scratch, count: written))
  }
}

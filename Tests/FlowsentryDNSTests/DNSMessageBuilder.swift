/// Builds DNS messages byte by byte, so that tests can make both real and broken ones.
struct DNSMessageBuilder {
  var bytes: [UInt8] = []

  init(id: UInt16 = 0x1234, flags: UInt16 = 0x8180, questions: UInt16 = 1, answers: UInt16 = 0) {
    u16(id)
    u16(flags)
    u16(questions)
    u16(answers)
    u16(0)
    u16(0)
  }

  mutating func u16(_ value: UInt16) { bytes += [UInt8(value >> 8), UInt8(value & 0xff)] }
  mutating func u32(_ value: UInt32) { u16(UInt16(value >> 16)); u16(UInt16(value & 0xffff)) }

  /// Writes a name uncompressed; returns its offset, for pointers.
  @discardableResult
  mutating func name(_ text: String) -> Int {
    let start = bytes.count
    for label in text.split(separator: ".") {
      bytes.append(UInt8(label.utf8.count))
      bytes += Array(label.utf8)
    }
    bytes.append(0)
    return start
  }

  mutating func pointer(to offset: Int) { u16(0xc000 | UInt16(offset)) }

  mutating func question(_ text: String) -> Int {
    let offset = name(text)
    u16(1)
    u16(1)
    return offset
  }

  /// The record header after the owner name: type, class IN, TTL, rdata length.
  mutating func recordHeader(type: UInt16, ttl: UInt32, length: Int) {
    u16(type)
    u16(1)
    u32(ttl)
    u16(UInt16(length))
  }

  mutating func a(owner: Int, ttl: UInt32, _ address: [UInt8]) {
    pointer(to: owner)
    recordHeader(type: 1, ttl: ttl, length: 4)
    bytes += address
  }

  mutating func aaaa(owner: Int, ttl: UInt32, _ address: [UInt8]) {
    pointer(to: owner)
    recordHeader(type: 28, ttl: ttl, length: 16)
    bytes += address
  }

  /// A CNAME whose target is written in full; returns the target's offset.
  mutating func cname(owner: Int, ttl: UInt32, target: String) -> Int {
    pointer(to: owner)
    var encoded = DNSMessageBuilder()
    encoded.bytes = []
    encoded.name(target)
    recordHeader(type: 5, ttl: ttl, length: encoded.bytes.count)
    return name(target)
  }
}

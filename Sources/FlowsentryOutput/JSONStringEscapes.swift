/// JSON string escapes (RFC 8259 section 7): checking them where they are written and decoding them
/// when a string is read.
enum JSONStringEscapes {
  /// The position after the escape at `position`, nil when it is not a valid one (`\u` surrogates
  /// must come in pairs).
  static func escapeEnd(_ bytes: UnsafeRawBufferPointer, _ position: Int) -> Int? {
    guard position + 1 < bytes.count else { return nil }
    switch bytes[position + 1] {
    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
      UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
      return position + 2
    case UInt8(ascii: "u"):
      guard let unit = hexUnit(bytes, position + 2) else { return nil }
      if (0xD800...0xDBFF).contains(unit) {
        guard position + 12 <= bytes.count, bytes[position + 6] == UInt8(ascii: "\\"),
          bytes[position + 7] == UInt8(ascii: "u"), let low = hexUnit(bytes, position + 8),
          (0xDC00...0xDFFF).contains(low)
        else { return nil }
        return position + 12
      }
      return (0xDC00...0xDFFF).contains(unit) ? nil : position + 6
    default:
      return nil
    }
  }

  static func hexUnit(_ bytes: UnsafeRawBufferPointer, _ position: Int) -> UInt32? {
    guard position + 4 <= bytes.count else { return nil }
    var unit: UInt32 = 0
    for index in position..<position + 4 {
      let byte = bytes[index]
      let digit: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
      default: return nil
      }
      unit = unit << 4 | UInt32(digit)
    }
    return unit
  }

  /// A checked string's bytes (every escape valid, as `escapeEnd` accepts) with its escapes decoded to UTF-8.
  static func unescape(_ raw: UnsafeRawBufferPointer) -> [UInt8] {
    var output: [UInt8] = []
    output.reserveCapacity(raw.count)
    var position = 0
    while position < raw.count {
      let byte = raw[position]
      guard byte == UInt8(ascii: "\\") else {
        output.append(byte)
        position += 1
        continue
      }
      let kind = raw[position + 1]
      position += 2
      switch kind {
      case UInt8(ascii: "b"): output.append(0x08)
      case UInt8(ascii: "f"): output.append(0x0C)
      case UInt8(ascii: "n"): output.append(0x0A)
      case UInt8(ascii: "r"): output.append(0x0D)
      case UInt8(ascii: "t"): output.append(0x09)
      case UInt8(ascii: "u"):
        var scalar = hexUnit(raw, position)!
        position += 4
        if (0xD800...0xDBFF).contains(scalar) {
          let low = hexUnit(raw, position + 2)!
          scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
          position += 6
        }
        output.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
      default: output.append(kind)
      }
    }
    return output
  }
}

import FlowsentryCore

#if canImport(Glibc)
  import Glibc
#endif

/// Reading the values a scan kept, from the line's bytes: strings are built only for these.
extension EventLineScanner {
  private func raw(_ value: LineValue) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(rebasing: bytes[Int(value.start)..<Int(value.end)])
  }

  /// A string's text (invalid UTF-8 repaired, as `String(decoding:as:)` does); nil for anything else.
  func string(_ value: LineValue) -> String? {
    guard value.kind == .string else { return nil }
    guard value.irregular else { return String(decoding: raw(value), as: UTF8.self) }
    return String(decoding: JSONStringEscapes.unescape(raw(value)), as: UTF8.self)
  }

  /// As `string`, but a plain string with the same bytes as the last one read through `slot` is
  /// that text again, not built anew: a recording's host and command repeat line after line.
  func repeatedString(_ value: LineValue, slot: Int) -> String? {
    guard value.kind == .string, !value.irregular, value.end > value.start else { return string(value) }
    let text = raw(value)
    let cached = storage.repeatedTexts + slot
    let same = cached.pointee.bytes.withUnsafeBytes { bytes in
      bytes.count == text.count && memcmp(bytes.baseAddress!, text.baseAddress!, text.count) == 0
    }
    if same { return cached.pointee.text }
    let built = String(decoding: text, as: UTF8.self)
    cached.pointee = (Array(text), built)
    return built
  }

  /// Whether `value` is the string `text` exactly, its escapes decoded.
  func stringEquals(_ value: LineValue, _ text: StaticString) -> Bool {
    guard value.kind == .string else { return false }
    let wanted = UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
    guard value.irregular else { return raw(value).elementsEqual(wanted) }
    return JSONStringEscapes.unescape(raw(value)).elementsEqual(wanted)
  }

  /// The string `value` as the case of `table` it spells; nil when it is not a string or spells
  /// none. Bytes are compared; the text is built only for a string whose escapes or non-ASCII bytes
  /// could still make it equal to a case as a String (canonical equivalence).
  func rawValued<Value: RawRepresentable & Sendable>(_ value: LineValue, _ table: RawValues<Value>) -> Value?
  where Value.RawValue == String {
    guard value.kind == .string else { return nil }
    let text = raw(value)
    if !value.irregular {
      for (candidate, spelling) in table.cases where spelling.count == text.count {
        if spelling.withUnsafeBytes({ $0.elementsEqual(text) }) { return candidate }
      }
      if text.allSatisfy({ $0 < 0x80 }) { return nil }
    }
    return string(value).flatMap(Value.init(rawValue:))
  }

  /// A boolean's value; nil for anything else.
  func boolean(_ value: LineValue) -> Bool? {
    guard value.kind == .boolean else { return nil }
    return bytes[Int(value.start)] == UInt8(ascii: "t")
  }

  /// The number `value` as `T` when it is an integer `T` holds exactly, range-checked digit by digit;
  /// a fraction or exponent counts when its value is such an integer (as `JSONSerialization`'s
  /// numbers convert).
  func integer<T: FixedWidthInteger>(_ value: LineValue, as type: T.Type) -> T? {
    guard value.kind == .number else { return nil }
    let token = raw(value)
    guard value.irregular else {
      var position = 0
      let negative = token[0] == UInt8(ascii: "-")
      if negative { position = 1 }
      var magnitude: UInt64 = 0
      // The first eighteen digits cannot overflow 64 bits: checked only from the nineteenth on.
      let unchecked = min(token.count, position + 18)
      while position < unchecked {
        magnitude = magnitude &* 10 &+ UInt64(token[position] &- UInt8(ascii: "0"))
        position += 1
      }
      while position < token.count {
        let (times, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = times.addingReportingOverflow(UInt64(token[position] &- UInt8(ascii: "0")))
        if overflow1 || overflow2 { return nil }
        magnitude = sum
        position += 1
      }
      if negative {
        guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
        return magnitude == UInt64(Int64.max) + 1 ? T(exactly: Int64.min) : T(exactly: -Int64(magnitude))
      }
      return T(exactly: magnitude)
    }
    guard let number = Double(String(decoding: token, as: UTF8.self)), number.isFinite, number.rounded() == number
    else { return nil }
    return T(exactly: number)
  }

  /// The number `value` when it is a plain unsigned integer of at most 19 digits (which 64 bits
  /// always hold); nil for any other value, which `integer` reads.
  @inline(__always)
  func shortUnsigned(_ value: LineValue) -> UInt64? {
    guard value.kind == .number, !value.irregular, let base = bytes.baseAddress else { return nil }
    let count = Int(value.end &- value.start)
    let digits = (base + Int(value.start)).assumingMemoryBound(to: UInt8.self)
    guard count <= 19, digits[0] != UInt8(ascii: "-") else { return nil }
    var magnitude: UInt64 = 0
    for index in 0..<count { magnitude = magnitude &* 10 &+ UInt64(digits[index] &- UInt8(ascii: "0")) }
    return magnitude
  }

  /// The string `value` as an IPv4 address when it is a plain dotted quad (no leading zeros); nil
  /// otherwise, for the caller's general parser.
  func dottedQuad(_ value: LineValue) -> UInt32? {
    guard value.kind == .string, !value.irregular, let base = bytes.baseAddress else { return nil }
    let count = Int(value.end &- value.start)
    guard count >= 7, count <= 15 else { return nil }
    // As `IPAddress.strictDottedQuad`, an octet at a time rather than a byte at a time with a
    // state per byte; a nil only sends the text to the general parser, which decides.
    let text = (base + Int(value.start)).assumingMemoryBound(to: UInt8.self)
    var position = 0
    var address: UInt32 = 0
    for octetIndex in 0..<4 {
      if octetIndex > 0 {
        guard position < count, text[position] == UInt8(ascii: ".") else { return nil }
        position &+= 1
      }
      guard position < count else { return nil }
      var octet = UInt32(text[position] &- UInt8(ascii: "0"))
      guard octet < 10 else { return nil }
      position &+= 1
      if position < count, text[position] &- UInt8(ascii: "0") < 10 {
        guard octet != 0 else { return nil }
        octet = octet &* 10 &+ UInt32(text[position] &- UInt8(ascii: "0"))
        position &+= 1
        if position < count, text[position] &- UInt8(ascii: "0") < 10 {
          octet = octet &* 10 &+ UInt32(text[position] &- UInt8(ascii: "0"))
          position &+= 1
          guard octet <= 255 else { return nil }
        }
      }
      address = address << 8 | octet
    }
    return position == count ? address : nil
  }
}

/// The cases of a String-valued enumeration with their spellings' bytes, for `rawValued`.
struct RawValues<Value: RawRepresentable & Sendable>: Sendable where Value.RawValue == String {
  let cases: [(Value, [UInt8])]

  init(_ values: [Value]) { cases = values.map { ($0, Array($0.rawValue.utf8)) } }
}

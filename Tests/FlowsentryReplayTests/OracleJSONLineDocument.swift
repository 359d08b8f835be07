#if canImport(Glibc)
  import Glibc
#endif

/// The recording reader's parser before the single-pass scanner, kept unchanged as the oracle of
/// `RecordingReaderDifferentialTests`. One JSON text parsed in place (RFC 8259): its values are nodes in a flat array that point into the
/// line's bytes, so reading an event allocates only the strings it keeps. The parse is strict (what
/// `JSONSerialization` refuses, this refuses) and nesting is bounded by `maximumDepth`.
struct OracleJSONLineDocument {
  enum Kind: UInt8 {
    case null, boolean, number, string, array, object
  }

  struct Node {
    var kind: Kind
    /// The value's bytes: a string's inside its quotes, a number's token, a boolean's `t` or `f`.
    var start: Int32
    var end: Int32
    /// An array's elements, an object's members.
    var count: Int32 = 0
    /// The index of the node after this value (its members included).
    var next: Int32 = 0
    /// A string holding `\` escapes, decoded only when read.
    var escaped = false
  }

  /// Deeper than any event (three levels); JSON's own grammar has no limit.
  static let maximumDepth = 64

  private(set) var nodes: [Node] = []
  private var bytes = UnsafeRawBufferPointer(start: nil, count: 0)

  init() { nodes.reserveCapacity(64) }

  /// Parses `line`, which must outlive every later read; false when it is not one JSON value.
  mutating func parse(_ line: UnsafeRawBufferPointer) -> Bool {
    nodes.removeAll(keepingCapacity: true)
    bytes = line
    guard line.count < Int(Int32.max) else { return false }
    var position = 0
    skipBlanks(&position)
    guard value(&position, depth: 0) else { return false }
    skipBlanks(&position)
    return position == line.count
  }

  // MARK: Reading

  /// The value of the last member named `key` of the object at `index` (duplicates: the last wins).
  func member(_ index: Int, _ key: StaticString) -> Int? {
    guard nodes[index].kind == .object else { return nil }
    let wanted = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
    var found: Int?
    var cursor = index + 1
    for _ in 0..<nodes[index].count {
      if keyEquals(cursor, wanted) { found = cursor + 1 }
      cursor = Int(nodes[cursor + 1].next)
    }
    return found
  }

  /// The elements of the array at `index`.
  func elements(_ index: Int) -> [Int] {
    guard nodes[index].kind == .array else { return [] }
    var result: [Int] = []
    result.reserveCapacity(Int(nodes[index].count))
    var cursor = index + 1
    for _ in 0..<nodes[index].count {
      result.append(cursor)
      cursor = Int(nodes[cursor].next)
    }
    return result
  }

  func kind(_ index: Int) -> Kind { nodes[index].kind }

  func string(_ index: Int) -> String? {
    let node = nodes[index]
    guard node.kind == .string else { return nil }
    let raw = UnsafeRawBufferPointer(rebasing: bytes[Int(node.start)..<Int(node.end)])
    guard node.escaped else { return String(decoding: raw, as: UTF8.self) }
    return String(decoding: Self.unescape(raw), as: UTF8.self)
  }

  /// Whether the string at `index` is `text` exactly.
  func stringEquals(_ index: Int, _ text: StaticString) -> Bool {
    guard nodes[index].kind == .string else { return false }
    return keyEquals(index, UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
  }

  /// A boolean's value; nil for anything else.
  func boolean(_ index: Int) -> Bool? {
    let node = nodes[index]
    guard node.kind == .boolean else { return nil }
    return bytes[Int(node.start)] == UInt8(ascii: "t")
  }

  /// The number at `index` as `T` when it is an integer `T` holds exactly; a fraction or exponent
  /// counts when its value is such an integer (as `JSONSerialization`'s numbers convert).
  func integer<T: FixedWidthInteger>(_ index: Int, as type: T.Type) -> T? {
    let node = nodes[index]
    guard node.kind == .number else { return nil }
    let token = UnsafeRawBufferPointer(rebasing: bytes[Int(node.start)..<Int(node.end)])
    if !token.contains(where: { $0 == UInt8(ascii: ".") || $0 | 0x20 == UInt8(ascii: "e") }) {
      var negative = false
      var digits = token[...]
      if token.first == UInt8(ascii: "-") {
        negative = true
        digits = digits.dropFirst()
      }
      var magnitude: UInt64 = 0
      for digit in digits {
        let (times, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = times.addingReportingOverflow(UInt64(digit &- UInt8(ascii: "0")))
        if overflow1 || overflow2 { return nil }
        magnitude = sum
      }
      if negative {
        guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
        return magnitude == UInt64(Int64.max) + 1 ? T(exactly: Int64.min) : T(exactly: -Int64(magnitude))
      }
      return T(exactly: magnitude)
    }
    guard let value = Double(String(decoding: token, as: UTF8.self)), value.isFinite, value.rounded() == value
    else { return nil }
    return T(exactly: value)
  }

  // MARK: Parsing

  private func skipBlanks(_ position: inout Int) {
    while position < bytes.count {
      switch bytes[position] {
      case 0x20, 0x09, 0x0A, 0x0D: position += 1
      default: return
      }
    }
  }

  private mutating func value(_ position: inout Int, depth: Int) -> Bool {
    guard position < bytes.count, depth <= Self.maximumDepth else { return false }
    switch bytes[position] {
    case UInt8(ascii: "{"): return object(&position, depth: depth)
    case UInt8(ascii: "["): return array(&position, depth: depth)
    case UInt8(ascii: "\""): return string(&position)
    case UInt8(ascii: "t"): return literal(&position, "true", .boolean)
    case UInt8(ascii: "f"): return literal(&position, "false", .boolean)
    case UInt8(ascii: "n"): return literal(&position, "null", .null)
    default: return number(&position)
    }
  }

  private mutating func literal(_ position: inout Int, _ text: StaticString, _ kind: Kind) -> Bool {
    let count = text.utf8CodeUnitCount
    guard position + count <= bytes.count,
      UnsafeRawBufferPointer(rebasing: bytes[position..<position + count]).elementsEqual(
        UnsafeRawBufferPointer(start: text.utf8Start, count: count))
    else { return false }
    nodes.append(
      Node(kind: kind, start: Int32(position), end: Int32(position + count), next: Int32(nodes.count + 1)))
    position += count
    return true
  }

  private mutating func number(_ position: inout Int) -> Bool {
    let start = position
    func digits(_ position: inout Int) -> Int {
      let first = position
      while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
        position += 1
      }
      return position - first
    }
    if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
    let integerStart = position
    let integerDigits = digits(&position)
    guard integerDigits > 0, integerDigits == 1 || bytes[integerStart] != UInt8(ascii: "0") else { return false }
    if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
      position += 1
      guard digits(&position) > 0 else { return false }
    }
    if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
      position += 1
      if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
        position += 1
      }
      guard digits(&position) > 0 else { return false }
    }
    nodes.append(Node(kind: .number, start: Int32(start), end: Int32(position), next: Int32(nodes.count + 1)))
    return true
  }

  /// A string's bytes must be valid JSON: no raw control characters, escapes of JSON's set, and
  /// `\u` surrogates in pairs.
  private mutating func string(_ position: inout Int) -> Bool {
    position += 1
    let start = position
    var escaped = false
    while position < bytes.count {
      let byte = bytes[position]
      if byte == UInt8(ascii: "\"") {
        nodes.append(
          Node(
            kind: .string, start: Int32(start), end: Int32(position), next: Int32(nodes.count + 1), escaped: escaped))
        position += 1
        return true
      }
      if byte < 0x20 { return false }
      if byte == UInt8(ascii: "\\") {
        escaped = true
        guard let after = Self.escapeEnd(bytes, position) else { return false }
        position = after
      } else {
        position += 1
      }
    }
    return false
  }

  /// The position after the escape at `position`, nil when it is not a valid one.
  private static func escapeEnd(_ bytes: UnsafeRawBufferPointer, _ position: Int) -> Int? {
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

  private static func hexUnit(_ bytes: UnsafeRawBufferPointer, _ position: Int) -> UInt32? {
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

  /// A validated string's bytes with its escapes decoded to UTF-8.
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

  private mutating func array(_ position: inout Int, depth: Int) -> Bool {
    let index = nodes.count
    nodes.append(Node(kind: .array, start: Int32(position), end: 0))
    position += 1
    skipBlanks(&position)
    var count: Int32 = 0
    if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
      position += 1
    } else {
      while true {
        guard value(&position, depth: depth + 1) else { return false }
        count += 1
        skipBlanks(&position)
        guard position < bytes.count else { return false }
        if bytes[position] == UInt8(ascii: "]") {
          position += 1
          break
        }
        guard bytes[position] == UInt8(ascii: ",") else { return false }
        position += 1
        skipBlanks(&position)
      }
    }
    nodes[index].count = count
    nodes[index].end = Int32(position)
    nodes[index].next = Int32(nodes.count)
    return true
  }

  private mutating func object(_ position: inout Int, depth: Int) -> Bool {
    let index = nodes.count
    nodes.append(Node(kind: .object, start: Int32(position), end: 0))
    position += 1
    skipBlanks(&position)
    var count: Int32 = 0
    if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
      position += 1
    } else {
      while true {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\""), string(&position) else { return false }
        skipBlanks(&position)
        guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return false }
        position += 1
        skipBlanks(&position)
        guard value(&position, depth: depth + 1) else { return false }
        count += 1
        skipBlanks(&position)
        guard position < bytes.count else { return false }
        if bytes[position] == UInt8(ascii: "}") {
          position += 1
          break
        }
        guard bytes[position] == UInt8(ascii: ",") else { return false }
        position += 1
        skipBlanks(&position)
      }
    }
    nodes[index].count = count
    nodes[index].end = Int32(position)
    nodes[index].next = Int32(nodes.count)
    return true
  }

  @inline(__always)
  private func keyEquals(_ index: Int, _ wanted: UnsafeRawBufferPointer) -> Bool {
    let node = nodes[index]
    let count = Int(node.end - node.start)
    if !node.escaped {
      return count == wanted.count
        && (count == 0 || memcmp(bytes.baseAddress! + Int(node.start), wanted.baseAddress!, count) == 0)
    }
    let raw = UnsafeRawBufferPointer(rebasing: bytes[Int(node.start)..<Int(node.end)])
    return Self.unescape(raw).elementsEqual(wanted)
  }

  /// The string at `index` as an IPv4 address when it is a plain dotted quad (no leading zeros);
  /// nil otherwise, for the caller's general parser.
  func dottedQuad(_ index: Int) -> UInt32? {
    let node = nodes[index]
    guard node.kind == .string, !node.escaped else { return nil }
    var value: UInt32 = 0
    var octet: UInt32 = 0
    var digits = 0
    var dots = 0
    for position in Int(node.start)..<Int(node.end) {
      let byte = bytes[position]
      if byte == UInt8(ascii: ".") {
        guard digits > 0, dots < 3 else { return nil }
        value = value << 8 | octet
        octet = 0
        digits = 0
        dots += 1
      } else if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
        guard digits < 3, !(digits == 1 && octet == 0) else { return nil }
        octet = octet * 10 + UInt32(byte - UInt8(ascii: "0"))
        digits += 1
        guard octet <= 255 else { return nil }
      } else {
        return nil
      }
    }
    guard dots == 3, digits > 0 else { return nil }
    return value << 8 | octet
  }
}

import FlowsentryCore

/// RFC 4180 fields of one line: quoted fields may hold commas and doubled quotes; a field does not
/// span lines (a newline inside quotes leaves an unterminated field, a malformed line).
enum CSVFields {
  struct Failure {
    var offset: Int
    var message: String
  }

  /// Fills `fields` with each field's content range (inside the quotes) and `quoted` with whether it
  /// holds doubled quotes to unescape; nil, or where and why the line is not CSV.
  static func split(
    _ line: UnsafeRawBufferPointer, _ range: Range<Int>, into fields: inout [Range<Int>], quoted: inout [Bool]
  ) -> Failure? {
    fields.removeAll(keepingCapacity: true)
    quoted.removeAll(keepingCapacity: true)
    var index = range.lowerBound
    let end = range.upperBound
    while true {
      while index < end && isBlank(line[index]) { index += 1 }
      if index < end && line[index] == UInt8(ascii: "\"") {
        let opening = index
        index += 1
        let contentStart = index
        var escaped = false
        while true {
          guard index < end else { return Failure(offset: opening, message: "unterminated quoted field") }
          if line[index] == UInt8(ascii: "\"") {
            if index + 1 < end && line[index + 1] == UInt8(ascii: "\"") {
              escaped = true
              index += 2
              continue
            }
            break
          }
          index += 1
        }
        fields.append(contentStart..<index)
        quoted.append(escaped)
        index += 1
        while index < end && isBlank(line[index]) { index += 1 }
        if index < end && line[index] != UInt8(ascii: ",") {
          return Failure(offset: index, message: "text after a quoted field")
        }
      } else {
        let start = index
        while index < end && line[index] != UInt8(ascii: ",") { index += 1 }
        fields.append(trimmed(line, start..<index))
        quoted.append(false)
      }
      guard index < end else { return nil }
      index += 1  // the comma
    }
  }

  static func unescape(_ content: UnsafeRawBufferPointer) -> [UInt8] {
    var output: [UInt8] = []
    output.reserveCapacity(content.count)
    var index = 0
    while index < content.count {
      output.append(content[index])
      index += content[index] == UInt8(ascii: "\"") ? 2 : 1
    }
    return output
  }
}

enum ZeekFields {
  static func split(_ line: UnsafeRawBufferPointer, into fields: inout [Range<Int>]) {
    fields.removeAll(keepingCapacity: true)
    var start = 0
    for index in 0..<line.count where line[index] == 0x09 {
      fields.append(start..<index)
      start = index + 1
    }
    fields.append(start..<line.count)
  }

  /// Whether a list of `type` keeps a Zeek `indicator_type`: addresses keep `Intel::ADDR` and
  /// `Intel::SUBNET`, domains `Intel::DOMAIN`, strings every other type; ports none.
  static func holds(_ type: IndicatorType, _ typeName: UnsafeRawBufferPointer) -> Bool {
    let isAddress = typeName.elementsEqual("Intel::ADDR".utf8) || typeName.elementsEqual("Intel::SUBNET".utf8)
    let isDomain = typeName.elementsEqual("Intel::DOMAIN".utf8)
    switch type {
    case .address: return isAddress
    case .domain: return isDomain
    case .string: return !isAddress && !isDomain
    case .port: return false
    }
  }

  /// Zeek writes `-` for an unset field and `(empty)` for an empty one.
  static func isUnset(_ field: UnsafeRawBufferPointer) -> Bool {
    field.isEmpty || field.elementsEqual("-".utf8) || field.elementsEqual("(empty)".utf8)
  }
}

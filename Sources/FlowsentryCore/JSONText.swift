/// A string as a JSON string literal, escaped as the event schema escapes them (RFC 8259: `"`,
/// `\`, `\n`, `\r`, `\t` by name, other control characters as `\u00XX`). Output's event writer has
/// its own in-place copy of this for speed; a test holds the two to the same bytes.
public enum JSONText {
  public static func quoted(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count + 2)
    bytes.append(UInt8(ascii: "\""))
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), byte]
      case UInt8(ascii: "\n"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
      case UInt8(ascii: "\r"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
      case UInt8(ascii: "\t"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
      case 0..<0x20:
        bytes += Array("\\u00".utf8)
        bytes.append(hexDigits[Int(byte >> 4)])
        bytes.append(hexDigits[Int(byte & 0xf)])
      default: bytes.append(byte)
      }
    }
    bytes.append(UInt8(ascii: "\""))
    return bytes
  }

  private static let hexDigits = Array("0123456789abcdef".utf8)
}

/// RFC 3339 UTC timestamps with nanoseconds: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
public enum RFC3339 {
  public static func format(nanoseconds: Int64) -> String {
    let civil = CivilTime(nanoseconds: nanoseconds)
    func padded(_ value: Int64, _ digits: Int) -> String {
      let text = String(value)
      return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
    return padded(civil.year, 4) + "-" + padded(civil.month, 2) + "-" + padded(civil.day, 2) + "T"
      + padded(civil.secondOfDay / 3600, 2) + ":" + padded(civil.secondOfDay / 60 % 60, 2) + ":"
      + padded(civil.secondOfDay % 60, 2) + "." + padded(civil.nanosecond, 9) + "Z"
  }
}

/// A UTC calendar date and time of day (proleptic Gregorian calendar), without Foundation.
public struct CivilTime: Sendable, Equatable {
  public var year: Int64
  public var month: Int64
  public var day: Int64
  public var secondOfDay: Int64
  public var nanosecond: Int64

  @inlinable
  public init(nanoseconds: Int64) {
    let seconds = nanoseconds >= 0 ? nanoseconds / 1_000_000_000 : (nanoseconds - 999_999_999) / 1_000_000_000
    nanosecond = nanoseconds - seconds * 1_000_000_000
    var days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    secondOfDay = seconds - days * 86_400
    days += 719_468  // days from 0000-03-01 to 1970-01-01
    let era = (days >= 0 ? days : days - 146_096) / 146_097
    let dayOfEra = days - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
  }
}

/// A DNS name as the sensor writes it: lower case, labels joined by dots, every byte outside
/// printable ASCII and every dot or backslash inside a label written `\DDD` (its decimal value).
/// Capture's parser writes names so, and rule test events are brought to the same form, so that a
/// rule that passes its tests sees the same text live (docs/EVENTS.md "How names are written").
public enum DNSNameText {
  /// Appends one label byte as a name carries it.
  @inlinable @inline(__always)
  public static func appendEscaped(_ byte: UInt8, to text: inout [UInt8]) {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"):
      text.append(byte | 0x20)
    case UInt8(ascii: "."), UInt8(ascii: "\\"), 0...0x20, 0x7f...0xff:
      text.append(UInt8(ascii: "\\"))
      text.append(UInt8(ascii: "0") + byte / 100)
      text.append(UInt8(ascii: "0") + byte / 10 % 10)
      text.append(UInt8(ascii: "0") + byte % 10)
    default:
      text.append(byte)
    }
  }

  /// `name` written in the presentation format (`dig`'s: labels split at unescaped dots, `\DDD` a
  /// byte, `\X` the character X, a trailing dot the root) as capture would deliver it:
  /// `caf\195\169.Example.COM.` and `café.example.com` both become `caf\195\169.example.com`.
  public static func captured(_ name: String) -> String {
    let bytes = Array(name.utf8)
    var labels: [[UInt8]] = [[]]
    var index = 0
    while index < bytes.count {
      let byte = bytes[index]
      if byte == UInt8(ascii: ".") {
        labels.append([])
        index += 1
      } else if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
        if index + 3 < bytes.count, let value = decimal(bytes[(index + 1)...(index + 3)]) {
          labels[labels.count - 1].append(value)
          index += 4
        } else {
          labels[labels.count - 1].append(bytes[index + 1])
          index += 2
        }
      } else {
        labels[labels.count - 1].append(byte)
        index += 1
      }
    }
    // The root's dot ends a fully qualified name; capture writes names without it.
    if labels.count > 1 && labels[labels.count - 1].isEmpty { labels.removeLast() }
    var text: [UInt8] = []
    for (position, label) in labels.enumerated() {
      if position > 0 { text.append(UInt8(ascii: ".")) }
      for byte in label { appendEscaped(byte, to: &text) }
    }
    return String(decoding: text, as: UTF8.self)
  }

  /// Three decimal digits of a value up to 255, as `\DDD` takes.
  private static func decimal(_ digits: ArraySlice<UInt8>) -> UInt8? {
    var value = 0
    for digit in digits {
      guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
      value = value * 10 + Int(digit - UInt8(ascii: "0"))
    }
    return value <= 255 ? UInt8(value) : nil
  }
}

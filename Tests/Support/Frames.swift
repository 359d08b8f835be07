import FlowsentryCore
import Foundation

/// Builds frames byte by byte, so that tests know exactly what a parser is given. Tests only.
public enum Frames {
  /// `options`: IPv4 options, a multiple of 4 bytes (the header grows by as much).
  public static func ipv4(
    _ source: IPAddress, _ destination: IPAddress, protocolNumber: UInt8, _ payload: [UInt8], options: [UInt8] = []
  ) -> [UInt8] {
    guard case .v4(let from) = source, case .v4(let to) = destination else { return [] }
    let length = 20 + options.count + payload.count
    let versionAndLength = UInt8(0x40 | (5 + options.count / 4))
    return [versionAndLength, 0, UInt8(length >> 8), UInt8(length & 0xff), 0, 1, 0x40, 0, 64, protocolNumber, 0, 0]
      + bytes(from) + bytes(to) + options + payload
  }

  public static func ipv6(
    _ source: IPAddress, _ destination: IPAddress, protocolNumber: UInt8, _ payload: [UInt8], extensionHeaders: Int = 0
  ) -> [UInt8] {
    guard case .v6(let fromHigh, let fromLow) = source, case .v6(let toHigh, let toLow) = destination else { return [] }
    var chain: [UInt8] = []
    for index in 0..<extensionHeaders {
      // Destination options, 8 bytes each: next header, length 0, PadN.
      let next = index == extensionHeaders - 1 ? protocolNumber : 60
      chain += [next, 0, 1, 4, 0, 0, 0, 0]
    }
    let length = chain.count + payload.count
    return [0x60, 0, 0, 0, UInt8(length >> 8), UInt8(length & 0xff), extensionHeaders > 0 ? 60 : protocolNumber, 64]
      + bytes(fromHigh) + bytes(fromLow) + bytes(toHigh) + bytes(toLow) + chain + payload
  }

  public static func tcp(
    _ from: UInt16, _ to: UInt16, flags: TCPFlags, sequence: UInt32 = 1000, ack: UInt32 = 0,
    _ payload: [UInt8] = []
  ) -> [UInt8] {
    bytes(from) + bytes(to) + bytes(sequence) + bytes(ack) + [0x50, flags.rawValue, 0xff, 0xff, 0, 0, 0, 0] + payload
  }

  public static func udp(_ from: UInt16, _ to: UInt16, _ payload: [UInt8]) -> [UInt8] {
    bytes(from) + bytes(to) + bytes(UInt16(8 + payload.count)) + [0, 0] + payload
  }

  public static func ethernet(_ packet: [UInt8], ipv6: Bool = false, vlanTags: Int = 0) -> [UInt8] {
    var frame: [UInt8] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]
    for index in 0..<vlanTags { frame += (index == 0 ? [0x88, 0xa8] : [0x81, 0x00]) + [0, UInt8(10 + index)] }
    return frame + (ipv6 ? [0x86, 0xdd] : [0x08, 0x00]) + packet
  }

  public static func linuxCooked(_ packet: [UInt8]) -> [UInt8] {
    [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00] + packet
  }

  public static func linuxCooked2(_ packet: [UInt8]) -> [UInt8] {
    [0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0] + packet
  }

  /// A DNS message: one question, and when `answer` is given, its A record.
  public static func dns(id: UInt16, _ name: String, answer: [UInt8]? = nil) -> [UInt8] {
    var message =
      bytes(id) + (answer == nil ? [0x01, 0x00] : [0x81, 0x80]) + [0, 1, 0, answer == nil ? 0 : 1, 0, 0, 0, 0]
    for label in name.split(separator: ".") { message += [UInt8(label.utf8.count)] + Array(label.utf8) }
    message += [0, 0, 1, 0, 1]
    if let answer { message += [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4] + answer }
    return message
  }

  public static func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
  }
}

/// A pcap file (nanosecond variant, little-endian), written as a test needs it.
public struct PcapWriter {
  public private(set) var data = Data()

  public init(linkType: UInt32) {
    append32(0xa1b2_3c4d)
    append16(2)
    append16(4)
    append32(0)
    append32(0)
    append32(65_535)
    append32(linkType)
  }

  /// `claimedLength` lets a test write a record that promises more bytes than follow (a cut file).
  public mutating func add(_ frame: [UInt8], at nanoseconds: Int64, claimedLength: Int? = nil) {
    append32(UInt32(nanoseconds / 1_000_000_000))
    append32(UInt32(nanoseconds % 1_000_000_000))
    append32(UInt32(claimedLength ?? frame.count))
    append32(UInt32(claimedLength ?? frame.count))
    data.append(contentsOf: frame)
  }

  public func write(to path: String) throws {
    try data.write(to: URL(fileURLWithPath: path))
  }

  private mutating func append32(_ value: UInt32) {
    withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
  }
  private mutating func append16(_ value: UInt16) {
    withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
  }
}

import Crypto
import FlowsentryCore

/// Community ID v1 (corelight/community-id-spec): one string per flow, the same from either
/// side and in every tool that implements it, so SIEM users can join flowsentry's flows with
/// Zeek's and Suricata's.
///
/// `"1:" + base64(SHA-1(seed ‖ lower address ‖ higher address ‖ protocol ‖ 0 ‖ its port ‖ the other port))`,
/// the endpoints ordered by address, then by port, so both directions hash alike.
public struct CommunityID: Sendable {
  public static let tcp: UInt8 = 6
  public static let udp: UInt8 = 17

  public var seed: UInt16

  public init(seed: UInt16 = 0) { self.seed = seed }

  public func string(_ source: Endpoint, _ destination: Endpoint, transport: UInt8) -> String {
    var bytes: [UInt8] = []
    append(source, destination, transport: transport, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Appends the ID's text to `bytes`.
  public func append(_ source: Endpoint, _ destination: Endpoint, transport: UInt8, to bytes: inout [UInt8]) {
    bytes.appendWriting(atMost: JSONWriter.communityIDBound) {
      write(source, destination, transport: transport, to: &$0)
    }
  }

  /// Writes the ID's text: the JSON encoder's path, which allocates nothing per event.
  func write(_ source: Endpoint, _ destination: Endpoint, transport: UInt8, to writer: inout JSONWriter) {
    let (first, second) = Self.ordered(source, destination)
    writeOrdered(first, second, transport: transport, to: &writer)
  }

  /// The endpoints as the hash takes them: IPv4-mapped addresses unmapped, the lower one first.
  static func ordered(_ source: Endpoint, _ destination: Endpoint) -> (first: Endpoint, second: Endpoint) {
    let first = Endpoint(source.address.unmappingIPv4, source.port)
    let second = Endpoint(destination.address.unmappingIPv4, destination.port)
    return isOrdered(second, before: first) ? (second, first) : (first, second)
  }

  func writeOrdered(_ first: Endpoint, _ second: Endpoint, transport: UInt8, to writer: inout JSONWriter) {
    let digest = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { buffer in
      var count = 0
      func put(_ byte: UInt8) {
        buffer[count] = byte
        count += 1
      }
      put(UInt8(seed >> 8))
      put(UInt8(seed & 0xff))
      func put(_ address: IPAddress) {
        switch address {
        case .v4(let value):
          for shift in stride(from: 24, through: 0, by: -8) { put(UInt8(truncatingIfNeeded: value >> shift)) }
        case .v6(let high, let low):
          for shift in stride(from: 56, through: 0, by: -8) { put(UInt8(truncatingIfNeeded: high >> shift)) }
          for shift in stride(from: 56, through: 0, by: -8) { put(UInt8(truncatingIfNeeded: low >> shift)) }
        }
      }
      put(first.address)
      put(second.address)
      put(transport)
      put(0)
      put(UInt8(first.port >> 8))
      put(UInt8(first.port & 0xff))
      put(UInt8(second.port >> 8))
      put(UInt8(second.port & 0xff))
      return Insecure.SHA1.hash(data: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer)[0..<count]))
    }
    writer.raw("1:")
    digest.withUnsafeBytes { Self.writeBase64($0, to: &writer) }
  }

  private static let base64Alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

  /// RFC 4648 base64 with padding; a 20-byte digest becomes 28 characters.
  private static func writeBase64(_ input: UnsafeRawBufferPointer, to writer: inout JSONWriter) {
    base64Alphabet.withUTF8Buffer { alphabet in
      var index = 0
      while index < input.count {
        let remaining = input.count - index
        let chunk =
          UInt32(input[index]) << 16 | (remaining > 1 ? UInt32(input[index + 1]) << 8 : 0)
          | (remaining > 2 ? UInt32(input[index + 2]) : 0)
        for position in 0..<4 {
          writer.byte(
            position <= min(remaining, 3) ? alphabet[Int(chunk >> (18 - 6 * position) & 0x3f)] : UInt8(ascii: "="))
        }
        index += 3
      }
    }
  }

  /// The spec compares the raw address bytes (IPv4 sorts before IPv6 only by length, which never
  /// matters: both ends of a flow share a family), then the ports.
  private static func isOrdered(_ left: Endpoint, before right: Endpoint) -> Bool {
    switch (left.address, right.address) {
    case (.v4(let a), .v4(let b)) where a != b: return a < b
    case (.v6(let aHigh, let aLow), .v6(let bHigh, let bLow)) where aHigh != bHigh || aLow != bLow:
      return (aHigh, aLow) < (bHigh, bLow)
    case (.v4, .v6): return true
    case (.v6, .v4): return false
    default: return left.port < right.port
    }
  }
}

/// The Community IDs of recently seen flows, in a direct-mapped table: a hit costs a hash of the
/// endpoints instead of a SHA-1, a collision just computes again. Bounded by construction.
final class CommunityIDCache {
  private struct Key: Equatable {
    var first: Endpoint
    var second: Endpoint
    var transport: UInt8
    var seed: UInt16

    /// A multiplicative mix of the words, not a seeded hash: flows chosen to collide only cost
    /// their SHA-1s again, which is what every flow cost without the cache.
    var slot: Int {
      func mix(_ mixed: UInt64, _ address: IPAddress) -> UInt64 {
        switch address {
        case .v4(let value): return (mixed ^ UInt64(value)) &* 0x9E37_79B9_7F4A_7C15
        case .v6(let high, let low): return ((mixed ^ high) &* 0xBF58_476D_1CE4_E5B9 ^ low) &* 0x94D0_49BB_1331_11EB
        }
      }
      let ports = (UInt64(first.port) << 32 | UInt64(second.port) << 16 | UInt64(transport)) ^ UInt64(seed) << 48
      let mixed = mix(mix(ports, first.address), second.address)
      return Int(truncatingIfNeeded: mixed ^ mixed >> 29)
    }
  }
  /// "1:" and 28 base64 characters.
  private static let textLength = 30
  private struct Slot {
    var key: Key
    var text: (UInt64, UInt64, UInt64, UInt64)
  }
  private static let slotCount = 4096
  /// Allocated once and never resized: read and written through the pointer, without an exclusivity
  /// check of a property per event.
  private let slots: UnsafeMutablePointer<Slot?> = {
    let slots = UnsafeMutablePointer<Slot?>.allocate(capacity: slotCount)
    slots.initialize(repeating: nil, count: slotCount)
    return slots
  }()

  deinit {
    slots.deinitialize(count: Self.slotCount)
    slots.deallocate()
  }

  func write(
    _ id: CommunityID, _ source: Endpoint, _ destination: Endpoint, transport: UInt8, to writer: inout JSONWriter
  ) {
    let (first, second) = CommunityID.ordered(source, destination)
    let key = Key(first: first, second: second, transport: transport, seed: id.seed)
    let index = key.slot & (Self.slotCount - 1)
    if let slot = slots[index], slot.key == key {
      withUnsafeBytes(of: slot.text) { writer.bytes(UnsafeRawBufferPointer(rebasing: $0.prefix(Self.textLength))) }
      return
    }
    var slot = Slot(key: key, text: (0, 0, 0, 0))
    withUnsafeMutableBytes(of: &slot.text) { text in
      text.withMemoryRebound(to: UInt8.self) { text in
        var textWriter = JSONWriter(text.baseAddress!)
        id.writeOrdered(first, second, transport: transport, to: &textWriter)
      }
    }
    withUnsafeBytes(of: slot.text) { writer.bytes(UnsafeRawBufferPointer(rebasing: $0.prefix(Self.textLength))) }
    slots[index] = slot
  }
}

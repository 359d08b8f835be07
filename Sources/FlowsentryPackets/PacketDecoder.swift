import FlowsentryCore

/// What one captured frame says that flow tracking and DNS need, read in place: no copy, no
/// allocation. `payloadOffset`/`payloadLength` locate the transport payload in the frame.
public struct DecodedPacket: Sendable {
  public var source = IPAddress.v4(0)
  public var destination = IPAddress.v4(0)
  /// IPPROTO_TCP (6) or IPPROTO_UDP (17).
  public var transport: UInt8 = 0
  public var sourcePort: UInt16 = 0
  public var destinationPort: UInt16 = 0
  public var tcpFlags = TCPFlags(rawValue: 0)
  public var sequence: UInt32 = 0
  public var acknowledgment: UInt32 = 0
  public var payloadOffset = 0
  /// Payload bytes present in the capture (a snaplen may have cut the rest).
  public var payloadLength = 0
  /// Payload bytes the packet carried, from the IP length fields (what sequence numbers count);
  /// the captured length when those say nothing (IPv4 total length 0 under segmentation offload).
  public var payloadWireLength = 0

  public init() {}
}

/// Why a frame was not decoded; each is counted, with the file and packet number where it matters.
public enum DecodeSkip: Int, CaseIterable, Sendable {
  case unknownLinkType
  /// A header ran past the captured bytes (snaplen, a cut last packet, bogus lengths).
  case truncated
  case notIP
  /// An IPv4 or IPv6 fragment after the first: no transport header.
  case laterFragment
  /// IPv6 behind an unknown extension header or more than `PacketDecoder.maximumExtensionHeaders`.
  case ipv6Unparsed
  /// Neither TCP nor UDP.
  case otherTransport
  /// A header that contradicts itself (IPv4 header length below 20, TCP data offset below 20).
  case malformed

  public var label: String {
    switch self {
    case .unknownLinkType: return "unknown link type"
    case .truncated: return "truncated"
    case .notIP: return "not IP"
    case .laterFragment: return "later fragments"
    case .ipv6Unparsed: return "ipv6 unparsed"
    case .otherTransport: return "other transports"
    case .malformed: return "malformed"
    }
  }
}

/// Link-layer types (LINKTYPE_* of the pcap and pcapng formats) the decoder reads.
public enum LinkType {
  public static let null: Int32 = 0
  public static let ethernet: Int32 = 1
  public static let rawBSD: Int32 = 12
  public static let rawOpenBSD: Int32 = 14
  public static let raw: Int32 = 101
  public static let loop: Int32 = 108
  public static let linuxCooked: Int32 = 113
  public static let ipv4: Int32 = 228
  public static let ipv6: Int32 = 229
  public static let linuxCooked2: Int32 = 276

  public static let all: [Int32] = [
    null, ethernet, rawBSD, rawOpenBSD, raw, loop, linuxCooked, ipv4, ipv6, linuxCooked2,
  ]
}

/// The Swift twin of the eBPF programs' parser (bpf/packet_parse.bpf.h): link layer, IPv4 with
/// options, IPv6 with up to 8 extension headers, TCP and UDP. Every read is bounds-checked against
/// the captured bytes; anything else is a `DecodeSkip`, never a crash.
public enum PacketDecoder {
  /// As many as the eBPF parser follows (FS_IPV6_MAX_EXTENSION_HEADERS).
  public static let maximumExtensionHeaders = 8
  /// 802.1Q, 802.1ad (QinQ) and the old 0x9100 tag, followed this many deep.
  static let maximumVLANTags = 4

  public static func decode(
    _ frame: UnsafeRawBufferPointer, linkType: Int32, into packet: inout DecodedPacket
  ) -> DecodeSkip? {
    var reader = Reader(bytes: frame)
    let etherType: UInt16
    switch linkType {
    case LinkType.ethernet:
      guard var type = reader.u16(at: 12) else { return .truncated }
      var offset = 14
      var tags = 0
      while type == 0x8100 || type == 0x88a8 || type == 0x9100 {
        tags += 1
        guard tags <= maximumVLANTags, let inner = reader.u16(at: offset + 2) else { return .truncated }
        type = inner
        offset += 4
      }
      etherType = type
      reader.offset = offset
    case LinkType.linuxCooked:
      guard let type = reader.u16(at: 14) else { return .truncated }
      etherType = type
      reader.offset = 16
    case LinkType.linuxCooked2:
      guard let type = reader.u16(at: 0), frame.count >= 20 else { return .truncated }
      etherType = type
      reader.offset = 20
    case LinkType.null, LinkType.loop:
      guard frame.count >= 4 else { return .truncated }
      // The sender's AF_ value: host order for NULL (little-endian writers), network order for LOOP.
      let raw = frame.loadUnaligned(as: UInt32.self)
      let family = linkType == LinkType.loop ? UInt32(bigEndian: raw) : UInt32(littleEndian: raw)
      switch family {
      case 2: etherType = 0x0800
      case 10, 24, 28, 30: etherType = 0x86dd  // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, macOS
      default: return .notIP
      }
      reader.offset = 4
    case LinkType.raw, LinkType.rawBSD, LinkType.rawOpenBSD, LinkType.ipv4, LinkType.ipv6:
      guard let first = reader.u8(at: 0) else { return .truncated }
      switch first >> 4 {
      case 4: etherType = 0x0800
      case 6: etherType = 0x86dd
      default: return .notIP
      }
    default:
      return .unknownLinkType
    }
    switch etherType {
    case 0x0800: return decodeIPv4(&reader, into: &packet)
    case 0x86dd: return decodeIPv6(&reader, into: &packet)
    default: return .notIP
    }
  }

  private static func decodeIPv4(_ reader: inout Reader, into packet: inout DecodedPacket) -> DecodeSkip? {
    let start = reader.offset
    guard let versionAndLength = reader.u8(at: start), let fragment = reader.u16(at: start + 6),
      let protocolNumber = reader.u8(at: start + 9), let source = reader.u32(at: start + 12),
      let destination = reader.u32(at: start + 16)
    else { return .truncated }
    guard versionAndLength >> 4 == 4 else { return .notIP }
    let headerLength = Int(versionAndLength & 0x0f) * 4
    guard headerLength >= 20 else { return .malformed }
    if fragment & 0x1fff != 0 { return .laterFragment }
    packet.source = .v4(source)
    packet.destination = .v4(destination)
    reader.offset = start + headerLength
    let totalLength = Int(reader.u16(at: start + 2) ?? 0)
    reader.ipEnd = totalLength >= headerLength ? start + totalLength : nil
    return decodeTransport(protocolNumber, &reader, into: &packet)
  }

  private static func decodeIPv6(_ reader: inout Reader, into packet: inout DecodedPacket) -> DecodeSkip? {
    let start = reader.offset
    guard let first = reader.u8(at: start), var next = reader.u8(at: start + 6),
      let sourceHigh = reader.u64(at: start + 8), let sourceLow = reader.u64(at: start + 16),
      let destinationHigh = reader.u64(at: start + 24), let destinationLow = reader.u64(at: start + 32)
    else { return .truncated }
    guard first >> 4 == 6 else { return .notIP }
    let payloadLength = Int(reader.u16(at: start + 4) ?? 0)
    reader.ipEnd = payloadLength > 0 ? start + 40 + payloadLength : nil
    packet.source = .v6(high: sourceHigh, low: sourceLow)
    packet.destination = .v6(high: destinationHigh, low: destinationLow)
    var offset = start + 40
    var followed = 0
    while next != 6 && next != 17 {
      switch next {
      case 0, 43, 60:  // hop-by-hop, routing, destination options
        guard let following = reader.u8(at: offset), let length = reader.u8(at: offset + 1) else { return .truncated }
        next = following
        offset += (Int(length) + 1) * 8
      case 44:  // fragment
        guard let following = reader.u8(at: offset), let fragment = reader.u16(at: offset + 2) else {
          return .truncated
        }
        if fragment & 0xfff8 != 0 { return .laterFragment }
        next = following
        offset += 8
      case 51:  // authentication header
        guard let following = reader.u8(at: offset), let length = reader.u8(at: offset + 1) else { return .truncated }
        next = following
        offset += (Int(length) + 2) * 4
      case 58, 59, 50:  // ICMPv6, no next header, ESP: nothing of ours behind them
        return .otherTransport
      default:
        return .ipv6Unparsed
      }
      followed += 1
      if followed > maximumExtensionHeaders { return .ipv6Unparsed }
    }
    reader.offset = offset
    return decodeTransport(next, &reader, into: &packet)
  }

  private static func decodeTransport(
    _ protocolNumber: UInt8, _ reader: inout Reader, into packet: inout DecodedPacket
  ) -> DecodeSkip? {
    let start = reader.offset
    packet.transport = protocolNumber
    let headerEnd: Int
    switch protocolNumber {
    case 6:
      guard let sourcePort = reader.u16(at: start), let destinationPort = reader.u16(at: start + 2),
        let sequence = reader.u32(at: start + 4), let acknowledgment = reader.u32(at: start + 8),
        let offsetByte = reader.u8(at: start + 12), let flags = reader.u8(at: start + 13)
      else { return .truncated }
      let headerLength = Int(offsetByte >> 4) * 4
      guard headerLength >= 20 else { return .malformed }
      packet.sourcePort = sourcePort
      packet.destinationPort = destinationPort
      packet.sequence = sequence
      packet.acknowledgment = acknowledgment
      packet.tcpFlags = TCPFlags(rawValue: flags)
      headerEnd = start + headerLength
    case 17:
      guard let sourcePort = reader.u16(at: start), let destinationPort = reader.u16(at: start + 2) else {
        return .truncated
      }
      packet.sourcePort = sourcePort
      packet.destinationPort = destinationPort
      packet.tcpFlags = TCPFlags(rawValue: 0)
      headerEnd = start + 8
    default:
      return .otherTransport
    }
    packet.payloadOffset = min(headerEnd, reader.bytes.count)
    packet.payloadLength = reader.bytes.count - packet.payloadOffset
    packet.payloadWireLength = reader.ipEnd.map { max(0, $0 - headerEnd) } ?? packet.payloadLength
    return nil
  }

  /// Big-endian reads that return nil instead of reading past the captured bytes.
  struct Reader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0
    /// Where the IP packet ends by its own length field, which a snaplen does not change.
    var ipEnd: Int?

    func u8(at position: Int) -> UInt8? {
      position >= 0 && position < bytes.count ? bytes[position] : nil
    }

    func u16(at position: Int) -> UInt16? {
      guard position >= 0, position + 2 <= bytes.count else { return nil }
      return UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt16.self))
    }

    func u32(at position: Int) -> UInt32? {
      guard position >= 0, position + 4 <= bytes.count else { return nil }
      return UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    func u64(at position: Int) -> UInt64? {
      guard position >= 0, position + 8 <= bytes.count else { return nil }
      return UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }
  }
}

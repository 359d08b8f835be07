import FlowsentryCore
import FlowsentryPackets
import FlowsentryTestSupport
import Testing

@Suite struct PacketDecoderTests {
  let client = IPAddress("10.0.0.2")!
  let server = IPAddress("203.0.113.80")!
  let client6 = IPAddress("fd00::2")!
  let server6 = IPAddress("2001:db8::80")!

  func decode(_ frame: [UInt8], _ linkType: Int32) -> (DecodedPacket, DecodeSkip?) {
    var packet = DecodedPacket()
    let skip = frame.withUnsafeBytes { PacketDecoder.decode($0, linkType: linkType, into: &packet) }
    return (packet, skip)
  }

  @Test func everyLinkTypeReachesTheSameTCPHeader() {
    let segment = Frames.tcp(443, 40_000, flags: [.syn, .ack], sequence: 7, ack: 1001)
    let ip = Frames.ipv4(server, client, protocolNumber: 6, segment)
    let frames: [(String, [UInt8], Int32)] = [
      ("ethernet", Frames.ethernet(ip), LinkType.ethernet),
      ("802.1ad + 802.1Q", Frames.ethernet(ip, vlanTags: 2), LinkType.ethernet),
      ("linux cooked", Frames.linuxCooked(ip), LinkType.linuxCooked),
      ("linux cooked v2", Frames.linuxCooked2(ip), LinkType.linuxCooked2),
      ("raw", ip, LinkType.raw),
      ("null", [2, 0, 0, 0] + ip, LinkType.null),
      ("loop", [0, 0, 0, 2] + ip, LinkType.loop),
    ]
    for (name, frame, linkType) in frames {
      let (packet, skip) = decode(frame, linkType)
      #expect(skip == nil, "\(name)")
      #expect(packet.source == server && packet.destination == client, "\(name)")
      #expect(packet.sourcePort == 443 && packet.destinationPort == 40_000, "\(name)")
      #expect(packet.tcpFlags == [.syn, .ack] && packet.sequence == 7 && packet.acknowledgment == 1001, "\(name)")
    }
  }

  @Test func ipv6ExtensionHeadersAreFollowedUpToTheLimitAndCountedBeyond() {
    let datagram = Frames.udp(53, 5353, [1, 2, 3])
    for headers in [0, 1, 8] {
      let (packet, skip) = decode(
        Frames.ipv6(server6, client6, protocolNumber: 17, datagram, extensionHeaders: headers), LinkType.raw)
      #expect(skip == nil, "\(headers) headers")
      #expect(packet.destination == client6 && packet.sourcePort == 53 && packet.payloadLength == 3)
    }
    let (_, skip) = decode(
      Frames.ipv6(server6, client6, protocolNumber: 17, datagram, extensionHeaders: 9), LinkType.raw)
    #expect(skip == .ipv6Unparsed)
  }

  @Test func hostileAndUnusualFramesAreSkippedWithAReason() {
    let ip = Frames.ipv4(server, client, protocolNumber: 6, Frames.tcp(443, 40_000, flags: [.fin, .ack]))
    #expect(decode(Array(Frames.ethernet(ip).prefix(40)), LinkType.ethernet).1 == .truncated)
    #expect(decode(Frames.ethernet(ip), 147).1 == .unknownLinkType)
    #expect(decode([], LinkType.ethernet).1 == .truncated)
    var laterFragment = ip
    laterFragment[6] = 0x00
    laterFragment[7] = 0x10
    #expect(decode(laterFragment, LinkType.raw).1 == .laterFragment)
    var shortHeader = ip
    shortHeader[0] = 0x44
    #expect(decode(shortHeader, LinkType.raw).1 == .malformed)
    #expect(decode(Frames.ipv4(server, client, protocolNumber: 1, [8, 0, 0, 0]), LinkType.raw).1 == .otherTransport)
    #expect(decode([0x08, 0x06] + [UInt8](repeating: 0, count: 30), LinkType.linuxCooked2).1 == .notIP)
    #expect(decode(Frames.ethernet(ip, vlanTags: 5), LinkType.ethernet).1 == .truncated)
  }
}

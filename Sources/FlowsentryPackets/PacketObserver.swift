import FlowsentryCore

/// Turns decoded packets into the observations live capture makes, as a local socket sees them, so
/// that the same flow tracker, DNS matcher and rules run on a capture file.
///
/// Which side is "local" comes from `localNetworks` (by default the private address spaces, as Zeek
/// does). A packet between two local addresses is seen from both sides (sent by one socket,
/// received by the other), as live capture sees a loopback connection. A packet between two
/// non-local addresses (a capture from a router or a tap) is seen from the initiator's side, the
/// endpoint with the higher port (the ephemeral one), so that both directions of a flow agree.
public struct PacketObserver {
  public struct Configuration: Sendable {
    public var localNetworks = IPNetwork.privateNetworks
    /// Ports whose UDP and TCP payloads are DNS: answers come from them, questions go to them.
    public var dnsPorts: Set<UInt16> = [53]
    public init() {}
  }

  public struct Counters: Sendable, Equatable {
    /// TCP segments handed to flow tracking (once per side seen): all but bare ACKs.
    public var tcpObservations: UInt64 = 0
    public var dnsMessages: UInt64 = 0
    /// TCP segments of a DNS port that do not start a message (no 2-byte length prefix in them).
    public var dnsContinuations: UInt64 = 0
    public init() {}
  }

  public let configuration: Configuration
  public private(set) var counters = Counters()

  public init(configuration: Configuration = Configuration()) {
    self.configuration = configuration
  }

  public func isLocal(_ address: IPAddress) -> Bool {
    configuration.localNetworks.contains { $0.contains(address) }
  }

  /// Appends what `packet` (decoded from `frame`, seen at `timestamp`) means for flows and DNS.
  public mutating func observe(
    _ packet: DecodedPacket, frame: UnsafeRawBufferPointer, at timestamp: WallClockNanoseconds,
    into records: inout [CapturedRecord]
  ) {
    let source = Endpoint(packet.source, packet.sourcePort)
    let destination = Endpoint(packet.destination, packet.destinationPort)
    let dnsAnswer = configuration.dnsPorts.contains(packet.sourcePort)
    let dns = dnsAnswer || configuration.dnsPorts.contains(packet.destinationPort)
    // Without a local side, the client's: the ephemeral port's, or the one that is not the DNS port's.
    let sourceIsInitiator = dns ? !dnsAnswer : packet.sourcePort > packet.destinationPort
    let (egress, ingress) = views(source: packet.source, destination: packet.destination, sourceIsInitiator)

    if dns, let message = dnsMessage(packet, frame) {
      let payload = Array(message.bytes)
      for hook in Self.hooks where hook == .egress ? egress : ingress {
        counters.dnsMessages += 1
        records.append(
          .dns(
            DNSPacketObservation(
              timestamp: timestamp, hook: hook, source: source, destination: destination,
              transport: packet.transport == 6 ? .tcp : .udp, messageLength: message.wireLength, payload: payload)))
      }
    }

    // Every segment that says something: the tracker validates handshakes and terminations against
    // what came before. A bare ACK (no SYN, FIN or RST, no payload) moves no flow and no sequence.
    guard packet.transport == 6 else { return }
    guard packet.payloadWireLength > 0 || !packet.tcpFlags.isDisjoint(with: [.syn, .fin, .rst]) else { return }
    for hook in Self.hooks where hook == .egress ? egress : ingress {
      counters.tcpObservations += 1
      records.append(
        .tcp(
          TCPPacketObservation(
            timestamp: timestamp, hook: hook, source: source, destination: destination, flags: packet.tcpFlags,
            sequence: packet.sequence, acknowledgment: packet.acknowledgment,
            payloadLength: UInt32(clamping: packet.payloadWireLength))))
    }
  }

  /// Both views, in the order a packet passes them: sent by one socket, then received by the other.
  private static let hooks: [Hook] = [.egress, .ingress]

  /// Which hooks see the packet: egress when its source is a local socket, ingress when its destination is.
  private func views(source: IPAddress, destination: IPAddress, _ sourceIsInitiator: Bool) -> (Bool, Bool) {
    switch (isLocal(source), isLocal(destination)) {
    case (true, true): return (true, true)
    case (true, false): return (true, false)
    case (false, true): return (false, true)
    case (false, false): return (sourceIsInitiator, !sourceIsInitiator)
    }
  }

  /// The DNS message in a packet: a UDP payload, or a TCP segment that starts with the 2-byte length.
  private mutating func dnsMessage(_ packet: DecodedPacket, _ frame: UnsafeRawBufferPointer)
    -> (bytes: UnsafeRawBufferPointer, wireLength: Int)?
  {
    let payload = UnsafeRawBufferPointer(
      rebasing: frame[packet.payloadOffset..<packet.payloadOffset + packet.payloadLength])
    guard !payload.isEmpty else { return nil }
    if packet.transport == 17 { return (payload, payload.count) }
    guard payload.count > 2 else {
      counters.dnsContinuations += 1
      return nil
    }
    let length = Int(payload[0]) << 8 | Int(payload[1])
    let message = UnsafeRawBufferPointer(rebasing: payload[2..<min(payload.count, 2 + length)])
    return (message, length)
  }
}

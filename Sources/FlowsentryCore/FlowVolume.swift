/// What one TCP socket carried, counted by the kernel on the local socket's side (sent = by the
/// local socket), whatever `source` and `destination` of the event say.
///
/// Payload bytes only: the kernel's `bytes_acked`/`bytes_received` also count the SYN and FIN,
/// which are subtracted; which segments the packet counts include is defined in docs/EVENTS.md.
/// Every field is a 64-bit counter that saturates, never wraps or goes negative.
public struct FlowVolume: Hashable, Sendable {
  public var bytesSent: UInt64
  public var bytesReceived: UInt64
  public var packetsSent: UInt64
  public var packetsReceived: UInt64
  public var retransmits: UInt64
  /// Smoothed round-trip time (the kernel keeps `srtt_us` times 8; this is microseconds).
  public var rttMicroseconds: UInt64

  public init(
    bytesSent: UInt64 = 0, bytesReceived: UInt64 = 0, packetsSent: UInt64 = 0, packetsReceived: UInt64 = 0,
    retransmits: UInt64 = 0, rttMicroseconds: UInt64 = 0
  ) {
    self.bytesSent = bytesSent
    self.bytesReceived = bytesReceived
    self.packetsSent = packetsSent
    self.packetsReceived = packetsReceived
    self.retransmits = retransmits
    self.rttMicroseconds = rttMicroseconds
  }
}

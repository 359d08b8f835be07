import FlowsentryCore

extension FlowVolume {
  /// What was counted since `earlier`: each counter's difference, never negative. The byte counters
  /// are 64-bit in the kernel: one that went down (it cannot) gives 0. The segment and
  /// retransmission counters are 32-bit there (data_segs_*, total_retrans), so one that went down
  /// wrapped and is taken modulo 2^32. The RTT is the current value, not a difference.
  func since(_ earlier: FlowVolume) -> FlowVolume {
    FlowVolume(
      bytesSent: Self.difference(bytesSent, earlier.bytesSent),
      bytesReceived: Self.difference(bytesReceived, earlier.bytesReceived),
      packetsSent: Self.difference32(packetsSent, earlier.packetsSent),
      packetsReceived: Self.difference32(packetsReceived, earlier.packetsReceived),
      retransmits: Self.difference32(retransmits, earlier.retransmits), rttMicroseconds: rttMicroseconds)
  }

  /// Whether some counter went down: a new socket reusing the tuple, or a wrap.
  func wentBelow(_ earlier: FlowVolume) -> Bool {
    bytesSent < earlier.bytesSent || bytesReceived < earlier.bytesReceived || packetsSent < earlier.packetsSent
      || packetsReceived < earlier.packetsReceived || retransmits < earlier.retransmits
  }

  private static func difference(_ now: UInt64, _ before: UInt64) -> UInt64 { now >= before ? now - before : 0 }

  private static func difference32(_ now: UInt64, _ before: UInt64) -> UInt64 {
    if now >= before { return now - before }
    guard now <= UInt64(UInt32.max), before <= UInt64(UInt32.max) else { return 0 }
    return UInt64(UInt32(truncatingIfNeeded: now) &- UInt32(truncatingIfNeeded: before))
  }
}

import FlowsentryCore

/// What a packet source without sockets needs checked before a packet may move a flow: the
/// stack's own judgement is not in a capture, so the tracker makes a coarser one.
extension FlowTracker {
  enum SegmentVerdict {
    /// Moves no flow: a SYN remembered, data advancing a sequence, or a segment refused.
    case ignore
    /// May begin or end a flow.
    case accept
    /// An RST/ACK acknowledging a pending SYN that no SYN+ACK answered: the attempt was refused.
    case refusal
  }

  /// Whether `packet` may go on to begin or end a flow. SYNs are remembered, and data segments
  /// advance their sender's sequence; neither moves a flow.
  mutating func validate(_ key: FlowKey, _ packet: TCPPacketObservation) -> SegmentVerdict {
    let flags = packet.flags
    if flags.contains(.syn) && !flags.contains(.ack) {
      sawSYN = true
      _ = pendingSYNs.insert(packet.sequence, for: key)
      return .ignore
    }
    if flags.isSuperset(of: [.syn, .ack]) {
      if let initial = pendingSYNs.peek(key), packet.acknowledgment == initial &+ 1 {
        _ = pendingSYNs.removeValue(for: key)
        return .accept
      }
      // A capture that shows SYNs shows this one's too, unless nobody sent it.
      guard sawSYN else { return .accept }
      if openFlows.peek(key) == nil { counters.synAcksWithoutSYN += 1 }
      // A retransmitted SYN+ACK of a begun flow: counted as a repeat.
      return openFlows.peek(key) != nil ? .accept : .ignore
    }
    // A refusal acknowledges the SYN; its own sequence number is the refuser's choice (a closed
    // Linux port sends 0, firewalls and other stacks need not).
    if flags.isSuperset(of: [.rst, .ack]), openFlows.peek(key) == nil, let initial = pendingSYNs.peek(key),
      packet.acknowledgment == initial &+ 1
    {
      _ = pendingSYNs.removeValue(for: key)
      return .refusal
    }
    guard var open = openFlows.peek(key), var sequences = open.sequences else {
      // A flow begun before the capture (or before validation knew its sequences) ends as live does.
      return flags.contains(.fin) || flags.contains(.rst) ? .accept : .ignore
    }
    let fromLocal = packet.hook == .egress
    let expected = fromLocal ? sequences.local : sequences.remote
    if flags.contains(.fin) || flags.contains(.rst) {
      let distance = packet.sequence &- expected
      guard min(distance, 0 &- distance) <= configuration.sequenceTolerance else {
        counters.outOfWindowTerminations += 1
        return .ignore
      }
      // A FIN may carry the sender's last data; the end that follows reads the volume.
      if flags.contains(.fin) && packet.payloadLength > 0 {
        open.volume?.count(packet.sequence, packet.payloadLength, expected: expected, fromLocal: fromLocal)
        _ = openFlows.insert(open, for: key)
      }
      return .accept
    }
    // Data (or a bare ACK): the sender's next sequence moves past what it sent.
    let end = packet.sequence &+ packet.payloadLength
    if packet.payloadLength > 0 {
      open.volume?.count(packet.sequence, packet.payloadLength, expected: expected, fromLocal: fromLocal)
    }
    let advanced = Int32(bitPattern: end &- expected) > 0
    if advanced {
      if fromLocal { sequences.local = end } else { sequences.remote = end }
      open.sequences = sequences
    }
    guard advanced || packet.payloadLength > 0 else { return .ignore }
    _ = openFlows.insert(open, for: key)
    return .ignore
  }
}

extension FlowVolume {
  /// One captured data segment of `length` payload bytes from `sequence`, its sender having
  /// reached `expected`, with the kernel's definitions: bytes as far as the sender's sequence
  /// advanced (a repeated range counts once, and bytes whose segments the capture missed count
  /// too, as the kernel's acknowledged bytes and Zeek's conn.log do), every data segment, and as a
  /// retransmission a segment that starts before what its sender had reached. Saturating.
  mutating func count(_ sequence: UInt32, _ length: UInt32, expected: UInt32, fromLocal: Bool) {
    let fresh = UInt64(max(0, Int64(Int32(bitPattern: sequence &+ length &- expected))))
    if fromLocal {
      bytesSent = bytesSent.addingReportingOverflow(fresh).overflow ? .max : bytesSent + fresh
      packetsSent = packetsSent == .max ? .max : packetsSent + 1
    } else {
      bytesReceived = bytesReceived.addingReportingOverflow(fresh).overflow ? .max : bytesReceived + fresh
      packetsReceived = packetsReceived == .max ? .max : packetsReceived + 1
    }
    if Int32(bitPattern: expected &- sequence) > 0 && fromLocal {
      retransmits = retransmits == .max ? .max : retransmits + 1
    }
  }
}

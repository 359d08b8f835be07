import CFlowsentryRecord

/// The eBPF programs' per-CPU counters (enum fs_counter), summed: every record lost and every packet
/// or state change the kernel side skipped, by reason.
public struct KernelCounters: Sendable, Equatable {
  /// Records the kernel could not reserve in the ring buffer.
  public var ringBufferFull: UInt64 = 0
  /// Of those, flow ends: reserved at the socket's close, its last state change, so lost.
  public var endsLost: UInt64 = 0
  /// DNS messages longer than the capture cap (FS_DNS_MAX_PAYLOAD bytes), copied in part.
  public var dnsMessagesCut: UInt64 = 0
  /// Packets whose headers could not be loaded.
  public var shortPackets: UInt64 = 0
  /// IPv4 fragments after the first: no transport header.
  public var ipv4Fragments: UInt64 = 0
  /// IPv6 packets behind unknown or too many extension headers, or later fragments.
  public var ipv6Unparsed: UInt64 = 0
  /// Packets that are neither IPv4 nor IPv6.
  public var notIP: UInt64 = 0
  /// Handshakes that completed with no connect(2)/listen(2) on record (the socket is older than the
  /// monitor, or its entry was evicted): the flow is followed, its process unknown.
  public var ownerUnknown: UInt64 = 0
  /// FIN/RST to a socket older than the monitor, out of sequence: ignored, as the stack ignores it.
  public var untrackedOutOfSequence: UInt64 = 0
  /// FIN/RST of no flow socket: incoming without a socket, or to or from a listener (its RSTs answer
  /// stray segments such as a forged SYN+ACK): ignored.
  public var noSocket: UInt64 = 0
  /// Incoming SYNs that reached a listening socket (counted per remote for half-open attempts).
  public var incomingSYNs: UInt64 = 0
  /// Incoming SYN+ACKs to a socket that was not connecting: ignored (a forged or stray handshake).
  public var unexpectedSYNACKs: UInt64 = 0
  /// Sockets older than the monitor whose callback flags a walk could not set: their end comes from
  /// their FIN/RST packets, without counters.
  public var walkFollowFailures: UInt64 = 0

  public init() {}

  init(reading counter: (fs_counter) -> UInt64) {
    ringBufferFull = counter(FS_COUNTER_RINGBUF_FULL)
    endsLost = counter(FS_COUNTER_END_LOST)
    dnsMessagesCut = counter(FS_COUNTER_DNS_CUT)
    shortPackets = counter(FS_COUNTER_SHORT_PACKET)
    ipv4Fragments = counter(FS_COUNTER_IPV4_FRAGMENT)
    ipv6Unparsed = counter(FS_COUNTER_IPV6_UNPARSED)
    notIP = counter(FS_COUNTER_NOT_IP)
    ownerUnknown = counter(FS_COUNTER_OWNER_UNKNOWN)
    untrackedOutOfSequence = counter(FS_COUNTER_UNTRACKED_IGNORED)
    noSocket = counter(FS_COUNTER_UNTRACKED_NO_SOCKET)
    incomingSYNs = counter(FS_COUNTER_HALF_OPEN_SYN)
    unexpectedSYNACKs = counter(FS_COUNTER_UNEXPECTED_SYN_ACK)
    walkFollowFailures = counter(FS_COUNTER_WALK_FOLLOW_FAILED)
  }
}

/// The settings of a live capture, apart from the capture layer so that configuration can be read,
/// checked and shown without libbpf or the generated skeleton.
public struct CaptureConfiguration: Sendable, Equatable {
  /// DNS ports the kernel programs watch at most (FS_DNS_PORTS_MAX in flowsentry_record.h; the
  /// capture session checks that the two agree).
  public static let maximumDNSPorts = 8

  /// Kernel ring buffer size in bytes; a power of two, at least a page.
  public var ringBufferBytes: UInt32 = 8 << 20
  /// Records waiting for the pipeline at most, counted in whole batches of `batchLimit`; beyond
  /// it, batches are dropped and counted.
  public var queueCapacity: Int = 262_144
  /// Records handed over per batch at most.
  public var batchLimit: Int = 1024
  /// Ports whose UDP and TCP payloads are read as DNS messages, as source or destination port.
  public var dnsPorts: [UInt16] = [53]
  /// Seconds between walks of the cgroup's open TCP sockets (`net_flow_tcp_update` for flows open
  /// longer); 0: only the start-up walk, which reports the connections already open.
  public var flowUpdateIntervalSeconds: Int = 60
  /// Whether the session hands over a `.tick` record every second, so that a consumer's clock moves
  /// on while the host is quiet (the monitor's: unanswered DNS questions are reported on time).
  /// Not a setting: what the consumer asks for.
  public var reportsClockTicks = false

  public init() {}
}

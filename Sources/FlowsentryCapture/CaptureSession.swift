import CFlowsentryLibbpf
import CFlowsentryRecord
import FlowsentryCore
import Foundation
import Synchronization
import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// Live capture from one cgroup: loads and attaches the eBPF programs, then reads their ring buffer
/// on a dedicated thread (the poll blocks, so it never runs on Swift's cooperative pool) and hands
/// batches of decoded packets to one consumer through a bounded queue whose drops are counted.
public final class CaptureSession: @unchecked Sendable {
  /// The settings live in Core, where configuration reads them without the capture layer.
  public typealias Configuration = CaptureConfiguration

  public struct Statistics: Sendable, Equatable {
    /// The eBPF programs' own counters: records lost, packets skipped by reason.
    public var kernel = KernelCounters()
    /// Records dropped because the pipeline fell behind the bounded queue.
    public var queueDrops: UInt64 = 0
    /// Of those, flow ends: their flows stay open until evicted.
    public var queueDroppedEnds: UInt64 = 0
    /// Records read after the stream's consumer had ended (cancelled, or stopped iterating): no
    /// one could take them. The reader stops at its next poll.
    public var recordsAfterConsumerEnd: UInt64 = 0
    /// Half-open map walks the kernel refused (their remotes wait for the next walk).
    public var failedHalfOpenScans: UInt64 = 0
    /// Records read from the ring buffer.
    public var records: UInt64 = 0
    /// Records of an unknown kind or size.
    public var malformedRecords: UInt64 = 0
    /// Half-open attempts reported (incoming SYNs that never completed a handshake).
    public var halfOpenAttempts: UInt64 = 0
    /// The walks of the cgroup's open TCP sockets.
    public var socketWalks = SocketWalkStatistics()

    /// Records the kernel could not reserve in the ring buffer.
    public var kernelDrops: UInt64 { kernel.ringBufferFull }
    /// DNS messages longer than the capture cap (FS_DNS_MAX_PAYLOAD bytes), copied in part.
    public var dnsMessagesCut: UInt64 { kernel.dnsMessagesCut }

    public init() {}
  }

  /// How many DNS ports can be watched at most.
  public static let maximumDNSPorts = Int(FS_DNS_PORTS_MAX)

  public let cgroup: CgroupDirectory
  public let configuration: Configuration
  private let probe: KernelProbe
  /// Followed once a second, so that a stepped wall clock moves event times with it.
  private let clockOffset = Atomic<Int64>(bootTimeToWallClockOffset())
  private var halfOpen = HalfOpenScanner()
  private var namespaces = NamespaceFinder()
  private var walkStatistics = SocketWalkStatistics()

  private let running = Atomic<Bool>(false)
  private let finished = Atomic<Bool>(false)
  /// Set by the stream's termination: nothing will take another batch.
  private let consumerGone = Atomic<Bool>(false)
  private let readerDone = DispatchSemaphore(value: 0)
  private let stoppedReading = Mutex<String?>(nil)
  private let counters = Mutex(Statistics())
  // Touched only by the reader thread while it runs, then by stop() after it has ended.
  private var batch: [CapturedRecord] = []
  /// The `.tick` records in `batch` (read and written by whoever fills `batch`).
  private var ticksInBatch = 0
  private var continuation: AsyncStream<[CapturedRecord]>.Continuation?

  /// Loads and attaches. `cgroupPath` nil means the root of the cgroup v2 mount: the whole host.
  public init(cgroupPath: String?, configuration: Configuration = Configuration()) throws(CaptureError) {
    // Named before anything is loaded: root without the capabilities (a container, a hardened
    // unit) fails the same way as a user without them.
    let missing = Self.missingCapabilities()
    if !missing.isEmpty { throw geteuid() == 0 || missing.count < 3 ? .missingCapabilities(missing) : .notPrivileged }
    guard access("/sys/kernel/btf/vmlinux", R_OK) == 0 else { throw .kernelBTFMissing }
    self.cgroup = try CgroupDirectory.resolve(cgroupPath)
    self.configuration = configuration
    guard configuration.dnsPorts.count <= Self.maximumDNSPorts else {
      throw .tooManyDNSPorts(maximum: Self.maximumDNSPorts)
    }
    self.probe = try KernelProbe(
      ringBufferBytes: configuration.ringBufferBytes, dnsPorts: configuration.dnsPorts, cgroup: cgroup)
  }

  /// Runs the loaded packet programs on one Ethernet frame, as if it crossed `hook` without a
  /// socket (BPF_PROG_TEST_RUN); what they record arrives on the stream like any record. For tests
  /// that give the kernel's parser and the replay decoder the same bytes.
  public func testRun(frame: [UInt8], hook: Hook) throws(CaptureError) {
    let verdict = probe.testRun(frame: frame, egress: hook == .egress)
    guard verdict >= 0 else { throw .testRunFailed(Errno(rawValue: -verdict)) }
  }

  /// Tests: how many half-open entries one walk visits at most, and how many unanswered SYNs of
  /// a remote still sending are not yet reported. Call before `packets()`.
  func tuneHalfOpenScan(visitLimit: Int, inFlightAllowance: Int64) {
    halfOpen.visitLimit = visitLimit
    halfOpen.inFlightAllowance = inFlightAllowance
  }

  /// Tests: no socket walk at all (neither at start nor later), so that flows older than the monitor
  /// end through their packets, the path left for sockets whose callback flags cannot be set.
  /// Call before `packets()`.
  func disableSocketWalks() { walksSockets = false }
  private var walksSockets = true

  /// Kernel ids of the attached programs (as `bpftool cgroup show` lists them).
  public var programIDs: [UInt32] { probe.programIDs }

  /// Starts the reader thread and returns the stream of packet batches. Call once.
  public func packets() throws(CaptureError) -> AsyncStream<[CapturedRecord]> {
    precondition(!running.load(ordering: .acquiring), "packets() is called once per session")
    let batchesInQueue = max(1, configuration.queueCapacity / configuration.batchLimit)
    let (stream, continuation) = AsyncStream.makeStream(
      of: [CapturedRecord].self, bufferingPolicy: .bufferingOldest(batchesInQueue))
    // Runs when the consumer ends (or stop() finishes the stream); it only flags, since it may run
    // on the consumer's task: the reader thread ends at its next poll and stop() still unloads.
    continuation.onTermination = { [weak self] _ in self?.consumerGone.store(true, ordering: .releasing) }
    self.continuation = continuation
    batch.reserveCapacity(configuration.batchLimit)
    try probe.openRing(context: Unmanaged.passUnretained(self).toOpaque()) { context, data, size in
      guard let context, let data else { return 0 }
      // No retain per record: onTermination's weak reference moved the session's count to a side
      // table, where each retain and release is slow; the reader thread keeps the session alive.
      return Unmanaged<CaptureSession>.fromOpaque(context)._withUnsafeGuaranteedRef {
        $0.handleRecord(UnsafeRawBufferPointer(start: data, count: size))
      }
    }
    running.store(true, ordering: .releasing)
    let updateInterval = Int64(max(0, configuration.flowUpdateIntervalSeconds)) * 1_000_000_000
    let thread = Thread { [self] in
      var nextSecond = bootTimeNanoseconds() + 1_000_000_000
      // The start-up walk reports the connections already open and makes sock_ops follow them.
      var walking = walksSockets ? walkSockets() : true
      var nextWalk = bootTimeNanoseconds() + updateInterval
      var failure: String?
      while walking && running.load(ordering: .acquiring) && !consumerGone.load(ordering: .acquiring) {
        let handled = probe.poll(timeoutMilliseconds: Int32(FS_POLL_INTERVAL_MS))
        if handled < 0 {
          failure = "reading the ring buffer failed: \(Errno(rawValue: -handled))"
          break
        }
        let now = bootTimeNanoseconds()
        if now >= nextSecond {
          nextSecond = now + 1_000_000_000
          everySecond(bootNow: now)
        }
        if walksSockets && updateInterval > 0 && now >= nextWalk {
          nextWalk = now + updateInterval
          walking = walkSockets()
        }
        deliverBatch()
      }
      if !walking {
        failure = "the socket walk could not bring the reader thread back to its own network namespace"
      }
      if let failure, running.load(ordering: .acquiring) {
        // Nothing more would ever arrive: end the stream, so that the monitor stops with the reason
        // instead of running on, healthy-looking and blind.
        deliverBatch()
        stoppedReading.withLock { $0 = failure }
        continuation.finish()
      }
      readerDone.signal()
    }
    thread.name = "flowsentry-ringbuf"
    thread.start()
    return stream
  }

  /// Detaches, then hands over what is still in the ring buffer (nothing new can arrive, so the
  /// drain ends), ends the stream and unloads. Idempotent.
  public func stop() {
    guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
    let wasRunning = running.exchange(false, ordering: .acquiringAndReleasing)
    if wasRunning { readerDone.wait() }
    probe.detach()
    if wasRunning {
      while probe.poll(timeoutMilliseconds: 0) > 0 { deliverBatch() }
      deliverBatch()
    }
    if let kernel = probe.counters() { counters.withLock { $0.kernel = kernel } }
    probe.close()
    continuation?.finish()
  }

  /// Why the reader thread stopped on its own (the stream then ended without `stop()`), or nil.
  public var readerFailure: String? { stoppedReading.withLock { $0 } }

  /// Safe from any thread, during or after `stop()`: a probe closed meanwhile left its last
  /// counters in the snapshot taken again here.
  public var statistics: Statistics {
    var snapshot = counters.withLock { $0 }
    if let kernel = probe.counters() {
      snapshot.kernel = kernel
    } else {
      snapshot = counters.withLock { $0 }
    }
    return snapshot
  }

  private func everySecond(bootNow: Int64) {
    let offset = bootTimeToWallClockOffset()
    clockOffset.store(offset, ordering: .relaxed)
    if configuration.reportsClockTicks {
      batch.append(.tick(bootNow.saturatingAddition(offset)))
      ticksInBatch += 1
    }
    for attempt in halfOpen.scan(probe, bootNow: bootNow, clockOffset: offset) {
      batch.append(.halfOpen(attempt))
    }
    let (reported, failed) = (halfOpen.reportedAttempts, halfOpen.failedScans)
    counters.withLock {
      $0.halfOpenAttempts = reported
      $0.failedHalfOpenScans = failed
    }
  }

  /// Walks the cgroup's open TCP sockets in each network namespace its processes use, on the reader
  /// thread: what the ring buffer holds is read first, so a socket's begin reaches the flow tracker
  /// before the walk's record of it. False when the thread could not return to its own namespace,
  /// and so must stop reading.
  private func walkSockets() -> Bool {
    while probe.poll(timeoutMilliseconds: 0) > 0 { deliverBatch() }
    deliverBatch()
    let startCPU = threadCPUNanoseconds()
    let startSystem = threadSystemNanoseconds()
    var walked: UInt64 = 0
    var failed: UInt64 = 0
    var found: UInt64 = 0
    var lost = false
    let context = Unmanaged.passUnretained(self).toOpaque()
    let visit: cfs_record_function = { context, data, size in
      guard let context, let data else { return 0 }
      // Without a retain per call, as for the ring buffer's.
      Unmanaged<CaptureSession>.fromOpaque(context)._withUnsafeGuaranteedRef {
        $0.handleWalkRecords(UnsafeRawBufferPointer(start: data, count: size))
      }
      return 0
    }
    let others = namespaces.otherNamespaces(of: cgroup)
    for namespace in [nil] + others.map(\.rawValue) {
      switch probe.walk(namespaceFD: namespace, context: context, visit: visit) {
      case .success(let records):
        walked += 1
        found += UInt64(records)
      case .failure(let errno):
        failed += 1
        if errno.rawValue == ENOTRECOVERABLE { lost = true }
      }
      if lost { break }
    }
    for descriptor in others { try? descriptor.close() }
    deliverBatch()
    walkStatistics.walks += 1
    walkStatistics.sockets += found
    walkStatistics.failedNamespaces += failed
    walkStatistics.truncatedNamespaceSearches = namespaces.truncatedSearches
    walkStatistics.lastNamespaces = walked
    walkStatistics.lastSockets = found
    walkStatistics.lastCPUNanoseconds = threadCPUNanoseconds() &- startCPU
    walkStatistics.lastSystemNanoseconds = threadSystemNanoseconds() &- startSystem
    let snapshot = walkStatistics
    counters.withLock { $0.socketWalks = snapshot }
    return !lost
  }

  /// The whole records of one read of the walk. The batch is moved out of the property for the
  /// loop and back, so that appending checks no exclusive access per record.
  private func handleWalkRecords(_ bytes: UnsafeRawBufferPointer) {
    let size = RecordDecoder.updateRecordSize
    let clockOffset = clockOffset.load(ordering: .relaxed)
    let limit = configuration.batchLimit
    var records: [CapturedRecord] = []
    swap(&records, &batch)
    var malformed: UInt64 = 0
    var offset = 0
    while offset + size <= bytes.count {
      let record = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + size])
      offset += size
      guard let change = RecordDecoder.decodeUpdate(record, clockOffset: clockOffset) else {
        malformed += 1
        continue
      }
      records.append(.socket(change))
      if records.count >= limit {
        swap(&records, &batch)
        deliverBatch()
        swap(&records, &batch)
      }
    }
    swap(&records, &batch)
    // A part shorter than a record: read_walk hands whole records only, so this is a damaged call.
    if offset != bytes.count { malformed += 1 }
    if malformed > 0 { counters.withLock { $0.malformedRecords += malformed } }
  }

  private func handleRecord(_ bytes: UnsafeRawBufferPointer) -> Int32 {
    guard let packet = RecordDecoder.decode(bytes, clockOffset: clockOffset.load(ordering: .relaxed)) else {
      counters.withLock { $0.malformedRecords += 1 }
      return 0
    }
    batch.append(packet)
    return batch.count >= configuration.batchLimit ? CFS_STOP_BATCH : 0
  }

  private func deliverBatch() {
    guard !batch.isEmpty else { return }
    let delivered = batch
    batch.removeAll(keepingCapacity: true)
    // Ticks are not records the kernel made: counted in neither `records` nor the drops.
    let kernelRecords = UInt64(delivered.count - ticksInBatch)
    ticksInBatch = 0
    let result = continuation?.yield(delivered)
    let (enqueued, queueFull) = { () -> (Bool, Bool) in
      switch result {
      case .enqueued?: return (true, false)
      case .dropped?: return (false, true)
      default: return (false, false)  // terminated, or no stream: the consumer has ended
      }
    }()
    var droppedEnds: UInt64 = 0
    if queueFull {
      for record in delivered {
        if case .socket(let change) = record, case .ended = change.transition { droppedEnds += 1 }
      }
    }
    counters.withLock { counters in
      counters.records += kernelRecords
      if queueFull {
        counters.queueDrops += kernelRecords
        counters.queueDroppedEnds += droppedEnds
      } else if !enqueued {
        counters.recordsAfterConsumerEnd += kernelRecords
      }
    }
  }

  /// The capabilities (of CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN) missing from the effective set;
  /// CAP_SYS_ADMIN stands in for the first two, as the kernel accepts it for them.
  static func missingCapabilities() -> [String] {
    guard let status = try? readTextFile("/proc/self/status"),
      let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
      let mask = UInt64(line.dropFirst("CapEff:".count).filter { !$0.isWhitespace }, radix: 16)
    else { return ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"] }
    let systemAdministration = mask & (1 << 21) != 0
    var missing: [String] = []
    if mask & (1 << 39) == 0 && !systemAdministration { missing.append("CAP_BPF") }
    if mask & (1 << 38) == 0 && !systemAdministration { missing.append("CAP_PERFMON") }
    if mask & (1 << 12) == 0 { missing.append("CAP_NET_ADMIN") }
    return missing
  }
}

import AsyncHTTPClient
import FlowsentryCore
import FlowsentrySpool
import Foundation
import NIOCore
import NIOSSL
import SystemPackage

/// One forwarding output: a bounded queue that the pipeline hands messages to without ever waiting,
/// and a thread of its own that appends them to the output's spool and delivers the spool to the
/// receiver, reconnecting with backoff. A receiver that is down or slow costs this output its queue
/// and spool, never the pipeline or another output.
public final class ForwardingOutput: @unchecked Sendable {
  public struct Counters: Sendable, Equatable {
    /// Messages waiting in memory for the output's thread.
    public var queued = 0
    /// Messages the pipeline offered while the queue was full: lost, counted.
    public var queueDropped: UInt64 = 0
    /// Records the receiver accepted.
    public var delivered: UInt64 = 0
    /// Failed connection attempts and broken connections, each followed by a backoff.
    public var retries: UInt64 = 0
    public var connections: UInt64 = 0
    /// Records sent again after a reconnect (sent before, not acknowledged): possible duplicates.
    public var resent: UInt64 = 0
    /// UDP messages cut to the datagram limit.
    public var truncated: UInt64 = 0
    /// Records the receiver refused for good (HTTP 400/401/403/413, per-item 400), written to
    /// `dead-letter.jsonl` in the output's spool directory.
    public var deadLettered: UInt64 = 0
    /// Times delivery stopped on a configuration error (an HTTP redirect, an invalid header):
    /// not retried, the records kept in the spool until the output is configured again.
    public var configurationErrors: UInt64 = 0
    /// HTTP answers whose body passed the output's cap (a receiver streaming without end).
    public var oversizedResponses: UInt64 = 0
    /// `nats://` only (nil for the others): published, acknowledged, duplicates and errors by kind.
    public var nats: NATSPublishCounters?
    public var spoolBytes: Int64 = 0
    public var spoolPending = 0
    public var spool = Spool.Counters()
    public var lastError: String?
    /// From the pipeline's hand-over to the receiver's acknowledgment, for records of this run
    /// (a spool left by an earlier run is delivered unmeasured).
    public var deliveryLatency = LatencyHistogram()
    public init() {}
  }

  public let configuration: OutputConfiguration
  public let spoolDirectory: FilePath
  private let log: @Sendable (String) -> Void
  private let tlsContext: NIOSSLContext?

  private let condition = NSCondition()
  private var queue: [(payload: [UInt8], rank: UInt8, enqueuedAt: UInt64)] = []
  private var stopping = false
  private var stopDeadline: UInt64 = 0
  private var shared = Counters()
  private var thread: Thread?
  private var finished = false

  /// Opens the spool (recovering what a previous run left) and loads the TLS files; the thread
  /// starts with `start()`.
  public init(
    configuration: OutputConfiguration, spoolDirectory: FilePath, log: @escaping @Sendable (String) -> Void
  ) throws(OutputError) {
    self.configuration = configuration
    self.spoolDirectory = spoolDirectory
    self.log = log
    tlsContext = configuration.kind == .syslogTLS ? try Self.makeTLSContext(configuration) : nil
    if configuration.kind == .http || configuration.kind == .https {
      let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: HTTPClient.Configuration(
          tlsConfiguration: configuration.kind == .https ? try Self.makeTLSConfiguration(configuration) : nil,
          // Followed, a redirect would take the alerts to a host nobody configured.
          redirectConfiguration: .disallow,
          timeout: .init(
            connect: .milliseconds(Int64(configuration.connectTimeoutMilliseconds)),
            read: .milliseconds(Int64(configuration.http.timeoutMilliseconds)))))
      httpClient = client
      do {
        httpTransport = try HTTPTransport(
          client: client, configuration: configuration,
          deadLetters: DeadLetterFile(
            path: spoolDirectory.appending("dead-letter.jsonl").string, output: configuration.name))
      } catch {
        try? client.syncShutdown()
        throw .spool(configuration.name, error.description)
      }
    } else {
      httpClient = nil
      httpTransport = nil
    }
    natsTransport =
      configuration.kind == .nats
      ? NATSTransport(
        configuration: configuration,
        deadLetters: DeadLetterFile(
          path: spoolDirectory.appending("dead-letter.jsonl").string, output: configuration.name))
      : nil
    do {
      spool = try Spool(directory: spoolDirectory, configuration: configuration.spool)
    } catch {
      throw .spool(configuration.name, "\(error)")
    }
    for note in spool.recoveryNotes { log("output \(configuration.name): spool: \(note)") }
    shared.spool = spool.counters
    shared.spoolBytes = spool.bytes
    shared.spoolPending = spool.pendingRecords
  }

  private let httpClient: HTTPClient?
  /// HTTP needs no connection of its own (the client pools them): one transport for the output's life.
  private let httpTransport: HTTPTransport?
  /// NATS keeps one connection for the output's life too (libnats reconnects and fails over).
  private let natsTransport: NATSTransport?

  // Owned by the output's thread once it runs.
  private let spool: Spool
  private var transport: (any Transport)?
  private var nextAttempt: UInt64 = 0
  private var failures = 0
  private var local = Counters()
  /// Set by a configuration error: no more attempts in this run (each would fail the same way).
  private var halted = false

  public func start() {
    let thread = Thread { [self] in run() }
    thread.name = "flowsentry-output-\(configuration.name)"
    self.thread = thread
    thread.start()
  }

  /// Hands a message to the output; never blocks. False when the queue was full (counted).
  @discardableResult
  public func enqueue(_ payload: [UInt8], rank: UInt8) -> Bool {
    condition.lock()
    defer { condition.unlock() }
    guard queue.count < configuration.queueCapacity, !stopping else {
      shared.queueDropped += 1
      return false
    }
    queue.append((payload, rank, Self.now()))
    if queue.count == 1 { condition.signal() }
    return true
  }

  /// Stops taking messages, delivers what it can within the drain timeout, and waits for the
  /// thread; what is left stays in the spool for the next start.
  public func stop() {
    condition.lock()
    stopping = true
    stopDeadline = Self.now() + UInt64(configuration.drainTimeoutMilliseconds) * 1_000_000
    condition.signal()
    while thread != nil && !finished { condition.wait() }
    condition.unlock()
  }

  public var counters: Counters {
    condition.lock()
    defer { condition.unlock() }
    var snapshot = shared
    snapshot.queued = queue.count
    // Dead letters leave the spool as delivered ones do, but they were not delivered.
    snapshot.delivered -= min(snapshot.delivered, snapshot.deadLettered)
    return snapshot
  }

  // MARK: The output's thread

  private func run() {
    nameThread()
    // Two buffers swapped under the lock: the pipeline appends to one while this thread empties the
    // other, and neither is copied or reallocated.
    var incoming: [(payload: [UInt8], rank: UInt8, enqueuedAt: UInt64)] = []
    while true {
      incoming.removeAll(keepingCapacity: true)
      condition.lock()
      swap(&queue, &incoming)
      let isStopping = stopping
      let deadline = stopDeadline
      condition.unlock()

      let now = Self.now()
      for message in incoming {
        if let sequence = spool.append(message.payload, rank: message.rank, now: Int64(now)) {
          handedOver.append((sequence, message.enqueuedAt))
        }
      }
      if handedOver.count > Self.latencyTimesKept { handedOver.removeFirst(handedOver.count - Self.latencyTimesKept) }
      spool.flushAppends()
      // Logged when appends failed since the last report, not again for every later batch.
      if spool.counters.failedAppends > reportedFailedAppends, let error = spool.lastAppendError {
        reportedFailedAppends = spool.counters.failedAppends
        log("output \(configuration.name): spool append failed (\(error)); \(reportedFailedAppends) lost so far")
      }
      spool.syncIfDue(now: Int64(now))
      if spool.counters.failedFileOperations > reportedFileErrors, let error = spool.lastFileError {
        reportedFileErrors = spool.counters.failedFileOperations
        log("output \(configuration.name): spool file operation failed (\(error)); \(reportedFileErrors) so far")
      }
      deliver(now: now)
      publish()

      let drained = spool.pendingRecords == 0
      if isStopping && (drained || now >= deadline || halted) { break }
      // Asleep until a message comes, `stop()` is called, the next reconnect is due, or (sent and
      // not acknowledged yet) the next look at the socket; a stopping output never past its deadline.
      var wakeAt = now + 200_000_000
      if let transport, transport.unacknowledged > 0 {
        wakeAt = now + 5_000_000
      } else if transport == nil, spool.pendingRecords > 0, !halted {
        wakeAt = max(nextAttempt, now + 1_000_000)
      }
      if isStopping { wakeAt = min(wakeAt, deadline) }
      condition.lock()
      if queue.isEmpty && stopping == isStopping {
        _ = condition.wait(until: Date(timeIntervalSinceNow: Double(wakeAt - min(wakeAt, now)) / 1e9))
      }
      condition.unlock()
    }
    spool.sync()
    publish()
    try? httpClient?.syncShutdown()
    if spool.pendingRecords > 0 {
      log(
        "output \(configuration.name): \(spool.pendingRecords) records left in the spool (\(spoolDirectory)); "
          + "they are sent at the next start")
    }
    condition.lock()
    finished = true
    condition.broadcast()
    condition.unlock()
  }

  /// Names the thread for the kernel (top -H, /proc/PID/task/*/comm keep 15 bytes): Foundation's
  /// `Thread.name` does not reach it on Linux. Failing, the thread goes unnamed; nothing else.
  private func nameThread() {
    let name = Array("fs-out-\(configuration.name)".utf8.prefix(15))
    do {
      let file = try FileDescriptor.open("/proc/thread-self/comm", .writeOnly, options: [.closeOnExec])
      defer { try? file.close() }
      _ = try file.writeAll(name)
    } catch {
      log("output \(configuration.name): cannot name its thread (\(error))")
    }
  }

  private func deliver(now: UInt64) {
    if transport == nil {
      guard spool.pendingRecords > 0, now >= nextAttempt, !halted else { return }
      connect(now: now)
      guard transport != nil else { return }
    }
    guard let transport else { return }
    do {
      while transport.unacknowledged < configuration.maximumInFlight {
        let records = spool.next(limit: configuration.batchRecords)
        guard !records.isEmpty else { break }
        // Sent before (on a broken connection, or by a run that was killed): possibly duplicates.
        local.resent += UInt64(records.count { $0.sequence <= max(highestSent, spool.previouslySent) })
        highestSent = max(highestSent, records.last!.sequence)
        spool.markSent(through: highestSent)
        try transport.send(records)
      }
      if let through = try transport.acknowledged() { commit(through: through) }
      if let udp = transport as? SyslogDatagramTransport { local.truncated = udp.truncated }
      failures = 0
    } catch {
      if let through = transport.salvage() { commit(through: through) }
      disconnect(because: error, now: now)
    }
    if let http = httpTransport { local.oversizedResponses = http.oversizedResponses }
    if let refusing = (natsTransport as (any DeadLetteringTransport)?) ?? httpTransport,
      refusing.deadLettered > local.deadLettered
    {
      log(
        "output \(configuration.name): \(refusing.deadLettered - local.deadLettered) records refused for good, see \(spoolDirectory)/dead-letter.jsonl"
      )
      local.deadLettered = refusing.deadLettered
    }
  }

  private var highestSent: UInt64 = 0
  private var reportedFailedAppends: UInt64 = 0
  private var reportedFileErrors: UInt64 = 0

  private func commit(through sequence: UInt64) {
    let before = spool.counters.committed
    spool.commit(through: sequence)
    local.delivered += spool.counters.committed - before
    // Something got through: the next failure, whatever it says, is news again.
    if spool.counters.committed > before { local.lastError = nil }
    let now = Self.now()
    while let oldest = handedOver.first, oldest.sequence <= sequence {
      local.deliveryLatency.observe(seconds: Double(now &- oldest.enqueuedAt) / 1e9)
      handedOver.removeFirst()
    }
  }

  /// When each spooled record of this run was handed over, oldest first, until delivered. Bounded:
  /// beyond it (a long outage) the oldest go unmeasured, and the histogram says so by its count.
  /// Records a full spool dropped are passed over by the commit after them and timed with it.
  private var handedOver = CircularBuffer<(sequence: UInt64, enqueuedAt: UInt64)>()
  private static let latencyTimesKept = 1 << 16

  private func connect(now: UInt64) {
    let configuration = self.configuration
    do {
      switch configuration.kind {
      case .syslogTCP, .syslogTLS:
        transport = try SyslogStreamTransport(
          host: configuration.host, port: configuration.port, tls: tlsContext,
          serverName: configuration.tls.effectiveServerName(host: configuration.host),
          timeoutMilliseconds: configuration.connectTimeoutMilliseconds)
      case .syslogUDP:
        transport = try SyslogDatagramTransport(
          host: configuration.host, port: configuration.port, maximumSize: configuration.maximumDatagramBytes,
          timeoutMilliseconds: configuration.connectTimeoutMilliseconds)
      case .relp:
        transport = try RELPTransport(
          host: configuration.host, port: configuration.port,
          timeoutMilliseconds: configuration.connectTimeoutMilliseconds)
      case .http, .https:
        transport = httpTransport
      case .nats:
        try natsTransport?.open()
        transport = natsTransport
      case .file:
        transport = try FileTransport(
          path: configuration.host, maximumBytes: configuration.fileMaximumBytes, keep: configuration.filesKept)
      }
      local.connections += 1
      spool.rewind()
      if failures > 0 { log("output \(configuration.name): connected to \(configuration.address) again") }
    } catch {
      disconnect(because: error, now: now)
    }
  }

  private func disconnect(because error: TransportError, now: UInt64) {
    transport = nil
    if case .misconfigured(let reason) = error {
      halted = true
      local.configurationErrors += 1
      local.lastError = reason
      log(
        "output \(configuration.name): \(reason); delivery stops until the output is configured again, "
          + "\(spool.pendingRecords) records kept in its spool (\(spoolDirectory))")
      return
    }
    failures += 1
    local.retries += 1
    let text = "\(error)"
    // Logged once until something is delivered: a receiver that accepts the connection and then
    // refuses every record (no JetStream stream, say) would otherwise be logged at every reconnect.
    if local.lastError != text {
      log("output \(configuration.name): \(text); retrying with backoff, alerts are kept in the spool")
    }
    local.lastError = text
    let exponent = min(failures - 1, 16)
    let ceiling = min(configuration.retryMaximumMilliseconds, configuration.retryInitialMilliseconds << exponent)
    var delay = UInt64.random(in: UInt64(ceiling / 2)...UInt64(max(ceiling, 1)))
    // A receiver that said when to come back is taken at its word (capped at the maximum delay).
    if case .retryLater(_, let milliseconds?) = error {
      delay = UInt64(min(milliseconds, configuration.retryMaximumMilliseconds))
    }
    nextAttempt = now + delay * 1_000_000
  }

  private func publish() {
    if let natsTransport { local.nats = natsTransport.counters }
    condition.lock()
    let dropped = shared.queueDropped
    shared = local
    shared.queueDropped = dropped
    shared.spool = spool.counters
    shared.spoolBytes = spool.bytes
    shared.spoolPending = spool.pendingRecords
    condition.unlock()
  }

  static func now() -> UInt64 { UInt64(MonotonicClock.nanoseconds()) }
}

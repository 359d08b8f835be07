import FlowsentryCore

#if canImport(Glibc)
  import Glibc
#endif

/// Where events and alerts go. Sinks are driven by the single pipeline task, one at a time,
/// and flushed when the pipeline has no more input at hand.
public protocol EventSink: AnyObject {
  func receive(_ event: SensorEvent)
  func receive(_ alert: Alert)
  func flush()
}

extension EventSink {
  public func flush() {}
}

/// Sends every event to several sinks, in order.
public final class MultiplexEventSink: EventSink {
  public let sinks: [any EventSink]
  public init(_ sinks: [any EventSink]) { self.sinks = sinks }
  public func receive(_ event: SensorEvent) { for sink in sinks { sink.receive(event) } }
  public func receive(_ alert: Alert) { for sink in sinks { sink.receive(alert) } }
  public func flush() { for sink in sinks { sink.flush() } }
}

/// Passes on the events whose names are selected (`--events`) and every alert.
public final class SelectingEventSink<Inner: EventSink>: EventSink {
  public let inner: Inner
  /// One bit per event name: decided once, not hashed per event.
  private let selected: UInt8

  public init(selection: Set<EventName>, _ inner: Inner) {
    self.inner = inner
    selected = selection.reduce(0) { $0 | $1.selectionBit }
  }

  public func receive(_ event: SensorEvent) {
    // The name read here, where the flow's other fields need not be copied out with it.
    let name: EventName
    switch event {
    case .flow(let flow): name = flow.name
    case .dns: name = .netPacketDNS
    }
    if selected & name.selectionBit != 0 { inner.receive(event) }
  }

  public func receive(_ alert: Alert) { inner.receive(alert) }
  public func flush() { inner.flush() }
}

extension EventName {
  fileprivate var selectionBit: UInt8 {
    switch self {
    case .netFlowTCPBegin: return 1
    case .netFlowTCPEnd: return 2
    case .netPacketDNS: return 4
    case .netFlowTCPHalfOpen: return 8
    case .netFlowTCPUpdate: return 16
    }
  }
}

/// Keeps events in memory, for tests and for tools that post-process a run.
public final class InMemoryEventSink: EventSink {
  public private(set) var events: [SensorEvent] = []
  public private(set) var alerts: [Alert] = []
  public init() {}
  public func receive(_ event: SensorEvent) { events.append(event) }
  public func receive(_ alert: Alert) { alerts.append(alert) }
  public func removeAll() {
    events.removeAll()
    alerts.removeAll()
  }
}

/// Writes events as JSON lines to a file descriptor (stdout by default), buffered and flushed per batch.
///
/// Nothing is lost silently: a line counts as printed only once write(2) took all of it; a failed
/// or short write (the reader went away, a full disk) counts the lines it lost and the failure.
public final class JSONLinesEventSink: EventSink {
  public struct Counters: Sendable, Equatable {
    public var eventsWritten: UInt64 = 0
    public var alertsWritten: UInt64 = 0
    public var eventsLost: UInt64 = 0
    public var alertsLost: UInt64 = 0
    /// write(2) calls that failed (EPIPE, ENOSPC, EIO, …) or wrote nothing.
    public var failedWrites: UInt64 = 0
    public var bytesWritten: UInt64 = 0
    /// Lines dropped because the reader of a background-written descriptor fell too far behind
    /// (counted in the lost ones too).
    public var droppedForSlowReader: UInt64 = 0
    public init(
      eventsWritten: UInt64 = 0, alertsWritten: UInt64 = 0, eventsLost: UInt64 = 0, alertsLost: UInt64 = 0,
      failedWrites: UInt64 = 0, bytesWritten: UInt64 = 0
    ) {
      self.bytesWritten = bytesWritten
      self.eventsWritten = eventsWritten
      self.alertsWritten = alertsWritten
      self.eventsLost = eventsLost
      self.alertsLost = alertsLost
      self.failedWrites = failedWrites
    }
  }

  private let descriptor: Int32
  private let context: EventJSON.Context
  /// When set, lines go out on a thread of their own (stdout of the monitor).
  private let background: BackgroundWriter?
  /// The buffered lines: one stored property, so that a line costs one exclusivity check of it.
  private var lines = Lines()
  /// Lines are handed on at this size, or when the pipeline has no more input at hand. Handing a
  /// batch to the background writer costs a lock and a wakeup of its thread, so it gets larger ones.
  private let flushThreshold: Int
  private let timeCache = EncodingCache()
  private var written = Counters()
  public var counters: Counters {
    guard let background else { return written }
    return background.snapshot
  }
  public var failedWrites: UInt64 { counters.failedWrites }

  /// With `backgroundCapacityBytes`, writes happen on a thread of their own and at most that many
  /// bytes wait for a slow reader (beyond it, lines are dropped and counted); without it, on the
  /// caller's thread at each flush.
  public init(descriptor: Int32 = 1, context: EventJSON.Context, backgroundCapacityBytes: Int? = nil) {
    self.descriptor = descriptor
    self.context = context
    background = backgroundCapacityBytes.map { BackgroundWriter(descriptor: descriptor, capacityBytes: $0) }
    // A small fraction of what the writer may hold, so that one batch never outgrows it.
    flushThreshold = backgroundCapacityBytes.map { min(512 * 1024, max(64 * 1024, $0 / 8)) } ?? 64 * 1024
    lines.bytes.reserveCapacity(flushThreshold * 2)
  }

  /// Flushes and, for a background writer, waits until everything was written (at exit).
  public func finish() {
    flush()
    background?.finish()
  }

  public func receive(_ event: SensorEvent) {
    if lines.append(event, context: context, cache: timeCache) >= flushThreshold { flush() }
  }

  public func receive(_ alert: Alert) {
    if lines.append(alert, context: context) >= flushThreshold { flush() }
  }

  public func flush() {
    if let background {
      lines.submit(to: background)
      return
    }
    written.add(lines.write(to: descriptor))
  }

  private struct Lines {
    var bytes: [UInt8] = []
    /// Whether each buffered line is an alert, to count what was written or lost by kind.
    var alerts: [Bool] = []

    /// Appends the event's line; returns the bytes buffered.
    mutating func append(_ event: SensorEvent, context: EventJSON.Context, cache: EncodingCache) -> Int {
      EventJSON.append(event, context: context, to: &bytes, cache: cache)
      return endLine(alert: false)
    }

    mutating func append(_ alert: Alert, context: EventJSON.Context) -> Int {
      AlertJSON.append(alert, context: context, to: &bytes)
      return endLine(alert: true)
    }

    /// Hands the lines to the writer thread, leaving the buffers empty.
    mutating func submit(to background: BackgroundWriter) {
      background.submit(&bytes, &alerts)
    }

    /// Writes the lines and empties the buffers.
    mutating func write(to descriptor: Int32) -> Counters {
      defer {
        bytes.removeAll(keepingCapacity: true)
        alerts.removeAll(keepingCapacity: true)
      }
      return JSONLinesEventSink.write(bytes, alerts: alerts, to: descriptor)
    }

    private mutating func endLine(alert: Bool) -> Int {
      bytes.append(UInt8(ascii: "\n"))
      alerts.append(alert)
      return bytes.count
    }
  }

  /// Writes lines with write(2) until done or failed, and says what was printed and lost.
  static func write(_ buffer: [UInt8], alerts bufferedAlerts: [Bool], to descriptor: Int32) -> Counters {
    var counters = Counters()
    var offset = 0
    while offset < buffer.count {
      let written = buffer[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
      if written < 0 && errno == EINTR { continue }
      if written <= 0 {
        counters.failedWrites += 1
        break
      }
      offset += written
    }
    counters.bytesWritten += UInt64(offset)
    // Lines whose newline was written are printed; the rest, a partly written one included, lost.
    let printed = offset == buffer.count ? bufferedAlerts.count : buffer[..<offset].lazy.filter { $0 == 10 }.count
    for (index, isAlert) in bufferedAlerts.enumerated() {
      switch (index < printed, isAlert) {
      case (true, false): counters.eventsWritten += 1
      case (true, true): counters.alertsWritten += 1
      case (false, false): counters.eventsLost += 1
      case (false, true): counters.alertsLost += 1
      }
    }
    return counters
  }

  deinit { finish() }
}

extension JSONLinesEventSink.Counters {
  mutating func add(_ other: Self) {
    eventsWritten += other.eventsWritten
    alertsWritten += other.alertsWritten
    eventsLost += other.eventsLost
    alertsLost += other.alertsLost
    failedWrites += other.failedWrites
    bytesWritten += other.bytesWritten
    droppedForSlowReader += other.droppedForSlowReader
  }
}

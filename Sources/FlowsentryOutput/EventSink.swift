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
public final class JSONLinesEventSink: EventSink {
  private let descriptor: Int32
  private let context: EventJSON.Context
  private var buffer: [UInt8] = []
  private let flushThreshold = 64 * 1024
  private let timeCache = SecondPrefixCache()
  /// Bytes that could not be written (the reader went away); counted, never silently dropped.
  public private(set) var failedWrites: UInt64 = 0

  public init(descriptor: Int32 = 1, context: EventJSON.Context) {
    self.descriptor = descriptor
    self.context = context
    buffer.reserveCapacity(flushThreshold * 2)
  }

  public func receive(_ event: SensorEvent) {
    EventJSON.append(event, context: context, to: &buffer, cache: timeCache)
    endLine()
  }

  public func receive(_ alert: Alert) {
    AlertJSON.append(alert, context: context, to: &buffer)
    endLine()
  }

  private func endLine() {
    buffer.append(UInt8(ascii: "\n"))
    if buffer.count >= flushThreshold { flush() }
  }

  public func flush() {
    var offset = 0
    while offset < buffer.count {
      let written = buffer[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
      if written < 0 {
        if errno == EINTR { continue }
        failedWrites += 1
        break
      }
      offset += written
    }
    buffer.removeAll(keepingCapacity: true)
  }

  deinit { flush() }
}

import FlowsentryCore

#if canImport(Glibc)
  import Glibc
#endif

/// Every event as a JSON line in a file (`monitor --record`), rotated by size: when the file
/// reaches `maximumBytes` it becomes FILE.1 (FILE.1 becomes FILE.2, …, the oldest beyond `keep`
/// files is removed) and a new FILE starts. Alerts are not recorded: a recording is what rules run
/// on again (`flowsentry replay FILE`). What a failed write loses is counted, as on stdout.
public final class RotatingFileEventSink: EventSink {
  public struct OpenError: Error, CustomStringConvertible {
    public var path: String
    public var errno: Int32
    public var description: String { "cannot open \(path) for recording: \(String(cString: strerror(errno)))" }
  }

  public let path: String
  public let maximumBytes: UInt64
  public let keep: Int
  private let files: RotatedFileSet
  private let context: EventJSON.Context
  private var descriptor: Int32
  private var sink: JSONLinesEventSink
  /// What files already rotated away wrote and lost.
  private var previous = JSONLinesEventSink.Counters()
  public private(set) var rotations: UInt64 = 0
  /// Rotations that could not move the files (the recording then grows past its size until one
  /// succeeds): nothing is lost, but the operator should know the limit does not hold.
  public private(set) var rotationFailures: UInt64 = 0

  public init(path: String, maximumBytes: UInt64, keep: Int, context: EventJSON.Context) throws(OpenError) {
    self.path = path
    self.maximumBytes = max(4096, maximumBytes)
    self.keep = max(1, keep)
    files = RotatedFileSet(path: path, keep: keep)
    self.context = context
    descriptor = try Self.open(path)
    sink = JSONLinesEventSink(descriptor: descriptor, context: context)
  }

  deinit {
    sink.flush()
    close(descriptor)
  }

  public var counters: JSONLinesEventSink.Counters {
    let current = sink.counters
    return JSONLinesEventSink.Counters(
      eventsWritten: previous.eventsWritten + current.eventsWritten,
      alertsWritten: 0, eventsLost: previous.eventsLost + current.eventsLost, alertsLost: 0,
      failedWrites: previous.failedWrites + current.failedWrites,
      bytesWritten: previous.bytesWritten + current.bytesWritten)
  }

  public func receive(_ event: SensorEvent) { sink.receive(event) }
  public func receive(_ alert: Alert) {}

  public func flush() {
    sink.flush()
    var status = stat()
    guard fstat(descriptor, &status) == 0, UInt64(status.st_size) >= maximumBytes else { return }
    rotate()
  }

  private func rotate() {
    do { try files.shift() } catch {
      rotationFailures += 1
      return
    }
    let finished = sink.counters
    previous.eventsWritten += finished.eventsWritten
    previous.eventsLost += finished.eventsLost
    previous.failedWrites += finished.failedWrites
    previous.bytesWritten += finished.bytesWritten
    close(descriptor)
    // Should the new file not open, the next writes fail and are counted as lost: detection goes on.
    descriptor = (try? Self.open(path)) ?? -1
    sink = JSONLinesEventSink(descriptor: descriptor, context: context)
    rotations += 1
  }

  private static func open(_ path: String) throws(OpenError) -> Int32 {
    let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
    guard descriptor >= 0 else { throw OpenError(path: path, errno: errno) }
    return descriptor
  }
}

/// Hands everything to two sinks, in order: what stdout prints and what is recorded.
public final class TeeEventSink<First: EventSink, Second: EventSink>: EventSink {
  public let first: First
  public let second: Second

  public init(_ first: First, _ second: Second) {
    self.first = first
    self.second = second
  }

  public func receive(_ event: SensorEvent) {
    first.receive(event)
    second.receive(event)
  }

  public func receive(_ alert: Alert) {
    first.receive(alert)
    second.receive(alert)
  }

  public func flush() {
    first.flush()
    second.flush()
  }
}

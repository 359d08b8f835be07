import FlowsentryCapture
import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// capture → the pipeline (flow tracking → DNS enrichment → rules) → the sinks, on one task. On
/// graceful shutdown it detaches and drains what the kernel had already handed over, then returns;
/// the sinks' services, shut down after it, deliver what it wrote.
final class CaptureService<Sink: EventSink>: Service, @unchecked Sendable {
  private let session: CaptureSession
  private let stopper: CaptureStopper
  private let configuration: Pipeline.Configuration
  /// Taken by `run()`: kept here, the first set would stay in memory beside every reloaded one.
  private let initialRules: Mutex<RuleSet?>
  private let reloader: RuleReloader
  private let sink: Sink
  private let publishSinkCounters: () -> Void
  private let counters: MonitorCounters

  /// `publishSinkCounters` copies the sinks' counters for the other services; it runs on this
  /// service's task after every batch, where the sinks are written.
  init(
    session: CaptureSession, configuration: Pipeline.Configuration, rules: RuleSet, reloader: RuleReloader,
    sink: Sink, counters: MonitorCounters, publishSinkCounters: @escaping () -> Void
  ) {
    self.session = session
    self.stopper = CaptureStopper(session)
    self.configuration = configuration
    self.initialRules = Mutex(rules)
    self.reloader = reloader
    self.sink = sink
    self.counters = counters
    self.publishSinkCounters = publishSinkCounters
  }

  /// The service is generic, and reached through `Service`, so its own body never specialises:
  /// the sinks the monitor uses are picked out once per batch, so that the pipeline's entry
  /// specialised for them (and every sink call in it) is called, not the one dispatching each
  /// call through witness tables.
  private static func process(
    _ records: UnsafeBufferPointer<CapturedRecord>, through pipeline: Pipeline, to sink: Sink
  ) {
    if let printed = sink as? SelectingEventSink<JSONLinesEventSink> {
      for index in records.indices { pipeline.process(records[index], to: printed) }
    } else if let multiplex = sink as? MultiplexEventSink {
      for index in records.indices { pipeline.process(records[index], to: multiplex) }
    } else {
      for index in records.indices { pipeline.process(records[index], to: sink) }
    }
  }

  func run() async throws {
    let packets: AsyncStream<[CapturedRecord]>
    do {
      packets = try session.packets()
    } catch {
      // Attached but not reading: detach before the error ends the group.
      await stopper.wait()
      throw error
    }
    let pipeline = Pipeline(configuration: configuration, rules: initialRules.withLock { $0.take() } ?? .empty)
    // The table has every rule's rows from the start, before the first batch.
    let initial = pipeline.counters
    counters.pipeline.withLock { $0 = initial }
    counters.reloader.withLock { $0 = reloader }
    await withGracefulShutdownHandler {
      // Ends when the session finishes the stream: after its drain on shutdown, or on its own.
      for await batch in packets {
        // From the batch's arrival to the counters' copy: the time the capture is not drained.
        let started = MonotonicClock.nanoseconds()
        if let replacement = reloader.takePending() {
          pipeline.replaceRules(replacement)
          counters.patterns.withLock { $0 = replacement.preparedPatterns }
        }
        // Each record lent from the batch's storage, not copied out of it as an iterator would.
        batch.withUnsafeBufferPointer { records in Self.process(records, through: pipeline, to: sink) }
        sink.flush()
        let latest = pipeline.counters
        counters.pipeline.withLock { $0 = latest }
        publishSinkCounters()
        counters.batchPauses.record(nanoseconds: MonotonicClock.nanoseconds() - started)
      }
    } onGracefulShutdown: { [stopper] in
      stopper.begin()
    }
    // Cancelled rather than shut down: the stream ended early; stop (and wait) all the same.
    await stopper.wait()
    // The capture is drained: no answer will be read now, so the questions still waiting are
    // reported (and their alerts raised) before the sinks' services, stopped after this one, flush.
    pipeline.finishInput(at: Int64(Date().timeIntervalSince1970 * 1_000_000_000), to: sink)
    sink.flush()
    pipeline.saveState()
    let final = pipeline.counters
    counters.pipeline.withLock { $0 = final }
    publishSinkCounters()
    // The reader thread gave up on its own: the group ends with the reason (and the monitor with a
    // failure status, for its supervisor to restart it).
    if let failure = session.readerFailure { throw CaptureStopped(reason: failure) }
  }
}

struct CaptureStopped: Error, CustomStringConvertible {
  var reason: String
  var description: String { "capture stopped: \(reason)" }
}

/// Stops a capture session once, on a thread of its own: stopping waits for the reader thread and
/// drains the ring buffer, which must not hold a cooperative thread (nor the shutdown handler).
final class CaptureStopper: Sendable {
  private struct State {
    var started = false
    var finished = false
    var waiters: [CheckedContinuation<Void, Never>] = []
  }

  private let session: CaptureSession
  private let state = Mutex(State())

  init(_ session: CaptureSession) { self.session = session }

  /// Starts stopping, without waiting. Idempotent.
  func begin() {
    let start = state.withLock { state in
      defer { state.started = true }
      return !state.started
    }
    guard start else { return }
    let thread = Thread { [self] in
      session.stop()
      let waiters = state.withLock { state in
        state.finished = true
        return state.waiters.take()
      }
      for waiter in waiters { waiter.resume() }
    }
    thread.name = "flowsentry-stop"
    thread.start()
  }

  /// Starts stopping when nothing has, and returns once the session has stopped.
  func wait() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let finished = state.withLock { state in
        if !state.finished { state.waiters.append(continuation) }
        return state.finished
      }
      if finished { continuation.resume() }
      begin()
    }
  }
}

extension Array {
  /// The elements, leaving the array empty.
  fileprivate mutating func take() -> [Element] {
    defer { self = [] }
    return self
  }
}

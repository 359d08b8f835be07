import FlowsentryCore
import Foundation
import Synchronization

/// Writes rule state files (first-seen values) on a thread of its own, so that the pipeline task
/// never waits for a disk. At most one write waits per file: a newer snapshot of the same file
/// replaces the waiting one (coalesced). At most `capacity` files wait; past that a snapshot is
/// dropped (counted, and the store stays dirty so that its next change tries again).
final class StateFileWriter: @unchecked Sendable {
  struct Counters: Equatable {
    var written: UInt64 = 0
    var coalesced: UInt64 = 0
    var dropped: UInt64 = 0
    var failed: UInt64 = 0
  }

  /// A write's outcome, counted for the store that asked for it (read from the pipeline task).
  final class Outcome: Sendable {
    let failures = Atomic<UInt64>(0)
    let written = Atomic<UInt64>(0)
  }

  enum Submission: Equatable { case queued, coalesced, dropped }

  private struct Job {
    var path: String
    var encode: @Sendable () -> [UInt8]?
    var outcome: Outcome
  }

  /// One writer for the process: state files are few (one a first-seen rule) and small.
  static let shared = StateFileWriter(capacity: 64)

  let capacity: Int
  private let condition = NSCondition()
  private var waiting: [Job] = []
  private var writing = false
  private var counters = Counters()
  private var started = false

  init(capacity: Int) {
    self.capacity = capacity
  }

  /// Queues a write of what `encode` returns (nil: nothing to write, a failure); never blocks on I/O.
  @discardableResult
  func submit(path: String, outcome: Outcome, encode: @escaping @Sendable () -> [UInt8]?) -> Submission {
    condition.lock()
    defer { condition.unlock() }
    startIfNeeded()
    if let index = waiting.firstIndex(where: { $0.path == path }) {
      waiting[index] = Job(path: path, encode: encode, outcome: outcome)
      counters.coalesced += 1
      return .coalesced
    }
    guard waiting.count < capacity else {
      counters.dropped += 1
      return .dropped
    }
    waiting.append(Job(path: path, encode: encode, outcome: outcome))
    condition.signal()
    return .queued
  }

  /// Waits until every write queued before the call has been done (or has failed).
  func flush() {
    condition.lock()
    while !waiting.isEmpty || writing { condition.wait() }
    condition.unlock()
  }

  var snapshot: Counters {
    condition.lock()
    defer { condition.unlock() }
    return counters
  }

  /// Writes queued and not yet taken by the thread.
  var waitingCount: Int {
    condition.lock()
    defer { condition.unlock() }
    return waiting.count
  }

  private func startIfNeeded() {
    guard !started else { return }
    started = true
    let thread = Thread { [self] in run() }
    thread.name = "flowsentry-state"
    thread.start()
  }

  private func run() {
    while true {
      condition.lock()
      while waiting.isEmpty { condition.wait() }
      let job = waiting.removeFirst()
      writing = true
      condition.unlock()

      var succeeded = false
      if let bytes = job.encode() {
        do {
          try AtomicFile.write(bytes, to: job.path, creatingDirectories: true)
          succeeded = true
        } catch {
          succeeded = false
        }
      }
      if succeeded {
        job.outcome.written.add(1, ordering: .relaxed)
      } else {
        job.outcome.failures.add(1, ordering: .relaxed)
      }

      condition.lock()
      writing = false
      if succeeded { counters.written += 1 } else { counters.failed += 1 }
      condition.broadcast()
      condition.unlock()
    }
  }
}

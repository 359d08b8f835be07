import FlowsentryCore
import Foundation

/// Events on their way from the thread that reads a recording to the one that runs the pipeline, in
/// order: a ring of fixed batches, so memory stays bounded, and the reader waits for room (a file can
/// wait; nothing is dropped). Events are moved in and out, never copied. One thread puts, another
/// takes; the lock is taken once per batch, and a side that waits is woken only once half the ring
/// is there for it (or the end), so that it sleeps once per half ring, not once per batch.
final class EventHandOff: @unchecked Sendable {
  static let batchCount = 8
  static let batchCapacity = 256

  private let condition = NSCondition()
  private let events: UnsafeMutablePointer<SensorEvent>
  // Under `condition`:
  private var counts = [Int](repeating: 0, count: EventHandOff.batchCount)
  private var published = 0
  private var taken = 0
  private var finished = false
  private var finalResult: RecordingReader.Result?
  // The putting thread's own: its batch being filled.
  private var filling = 0
  private var filledCount = 0
  private var holdsBatch = false

  init() {
    events = .allocate(capacity: Self.batchCount * Self.batchCapacity)
  }

  deinit {
    // Only when the taking side stopped early: what it never took is released here.
    for batch in taken..<published {
      (events + batch % Self.batchCount * Self.batchCapacity).deinitialize(count: counts[batch % Self.batchCount])
    }
    if holdsBatch { (events + filling * Self.batchCapacity).deinitialize(count: filledCount) }
    events.deallocate()
  }

  /// Appends `event` to the batch being filled, waiting for a free batch when all are full.
  func put(_ event: consuming SensorEvent) {
    if !holdsBatch {
      condition.lock()
      while published - taken == Self.batchCount { condition.wait() }
      filling = published % Self.batchCount
      condition.unlock()
      holdsBatch = true
    }
    (events + filling * Self.batchCapacity + filledCount).initialize(to: event)
    filledCount += 1
    if filledCount == Self.batchCapacity { publish() }
  }

  /// Hands over the last batch and what the reading found; the putting side's last call.
  func finish(_ result: RecordingReader.Result) {
    if holdsBatch { publish() }
    condition.lock()
    finalResult = result
    finished = true
    condition.broadcast()
    condition.unlock()
  }

  private func publish() {
    condition.lock()
    counts[filling] = filledCount
    published += 1
    if published - taken >= Self.batchCount / 2 { condition.broadcast() }
    condition.unlock()
    holdsBatch = false
    filledCount = 0
  }

  /// Hands `body` the next batch's events, moved out, waiting for one; false once every batch was
  /// taken and the putting side finished.
  func take(_ body: (consuming SensorEvent) -> Void) -> Bool {
    condition.lock()
    while taken == published && !finished { condition.wait() }
    guard taken < published else {
      condition.unlock()
      return false
    }
    let batch = taken % Self.batchCount
    let count = counts[batch]
    condition.unlock()
    let first = events + batch * Self.batchCapacity
    // Moved, not copied: a copy would retain every reference the event holds.
    for index in 0..<count { body((first + index).move()) }
    condition.lock()
    taken += 1
    if published - taken <= Self.batchCount / 2 { condition.broadcast() }
    condition.unlock()
    return true
  }

  /// What the reading found: set once `take` has returned false.
  var result: RecordingReader.Result? {
    condition.lock()
    defer { condition.unlock() }
    return finalResult
  }
}

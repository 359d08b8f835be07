import FlowsentryCore
import Foundation
import Synchronization

/// Events on their way from the thread that reads a recording to the one that runs the pipeline, in
/// order: a ring of fixed batches, so memory stays bounded, and the reader waits for room (a file can
/// wait; nothing is dropped). Events are moved in and out, never copied. One thread puts, another
/// takes; the lock is taken once per batch. A side that waits is woken once half the ring is there
/// for it (or the end), so that it sleeps once per half ring, not once per batch; the pipeline's side
/// waits at most `partialBatchWait`, then takes what is published, else what the batch being filled
/// holds, so that a slow reader's events (a file still being written, a slow disk) are not held back. With
/// none put at all it sleeps until the next one is.
final class EventHandOff: @unchecked Sendable {
  static let batchCount = 8
  static let batchCapacity = 256
  /// Long enough that a reader keeping up with the pipeline publishes batches within it, so that
  /// batches are taken whole and the pipeline wakes at most this often; a slower reader's events
  /// wait no longer.
  static let partialBatchWait: TimeInterval = 0.001

  private let condition = NSCondition()
  private let events: UnsafeMutablePointer<SensorEvent>
  // Under `condition`:
  private var counts = [Int](repeating: 0, count: EventHandOff.batchCount)
  private var published = 0
  private var taken = 0
  private var finished = false
  private var finalResult: RecordingReader.Result?
  /// The putting side is filling batch `filling` (always `published % batchCount`); set only by it,
  /// under `condition`, so it reads them without.
  private var holdsBatch = false
  private var filling = 0
  // The putting thread's own: how many events the batch being filled holds.
  private var filledCount = 0
  // The taking thread's own: how many events of batch `taken % batchCount` it moved out while that
  // batch was still being filled.
  private var takenEarly = 0
  // Shared without the lock, so that putting an event costs no lock:
  /// How many events of the batch being filled are in place, stored after each one.
  private let placed = Atomic<Int>(0)
  /// The taking side sleeps until the next event is put: the putting side wakes it then.
  private let takerSleeps = Atomic<Bool>(false)

  init() {
    events = .allocate(capacity: Self.batchCount * Self.batchCapacity)
  }

  deinit {
    // Only when the taking side stopped early: what it never took is released here.
    for batch in taken..<published {
      let slot = batch % Self.batchCount
      let movedOut = batch == taken ? takenEarly : 0
      (events + slot * Self.batchCapacity + movedOut).deinitialize(count: counts[slot] - movedOut)
    }
    if holdsBatch {
      let movedOut = taken == published ? takenEarly : 0
      (events + filling * Self.batchCapacity + movedOut).deinitialize(count: filledCount - movedOut)
    }
    events.deallocate()
  }

  /// Appends `event` to the batch being filled, waiting for a free batch when all are full.
  func put(_ event: consuming SensorEvent) {
    if !holdsBatch {
      condition.lock()
      while published - taken == Self.batchCount { condition.wait() }
      filling = published % Self.batchCount
      placed.store(0, ordering: .relaxed)
      holdsBatch = true
      condition.unlock()
    }
    (events + filling * Self.batchCapacity + filledCount).initialize(to: event)
    filledCount += 1
    if filledCount == Self.batchCapacity {
      publish()
      return
    }
    // Both stores and loads sequentially consistent, here and where the taking side goes to sleep:
    // either it sees this event or this side sees it asleep, so an event is never left unseen.
    placed.store(filledCount, ordering: .sequentiallyConsistent)
    if takerSleeps.load(ordering: .sequentiallyConsistent) {
      condition.lock()
      takerSleeps.store(false, ordering: .relaxed)
      condition.broadcast()
      condition.unlock()
    }
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
    holdsBatch = false
    if published - taken >= Self.batchCount / 2 || takerSleeps.load(ordering: .relaxed) { condition.broadcast() }
    condition.unlock()
    filledCount = 0
  }

  /// Hands `body` the next events in order, moved out: a published batch's (what was not taken
  /// early), else after a wait those placed in the batch being filled. Waits for some; false once
  /// every event was taken and the putting side finished.
  func take(_ body: (consuming SensorEvent) -> Void) -> Bool {
    condition.lock()
    var waited = false
    while taken == published {
      // With nothing published, the batch being filled is the next one to take.
      if waited && holdsBatch {
        let inPlace = placed.load(ordering: .acquiring)
        if inPlace > takenEarly {
          let from = takenEarly
          takenEarly = inPlace
          condition.unlock()
          moveOut(batch: taken % Self.batchCount, from..<inPlace, to: body)
          return true
        }
      }
      if finished {
        condition.unlock()
        return false
      }
      if !waited {
        // Woken early once half the ring is published or the reading ends.
        _ = condition.wait(until: Date(timeIntervalSinceNow: Self.partialBatchWait))
        waited = true
        continue
      }
      takerSleeps.store(true, ordering: .sequentiallyConsistent)
      if !holdsBatch || placed.load(ordering: .sequentiallyConsistent) <= takenEarly { condition.wait() }
      takerSleeps.store(false, ordering: .relaxed)
    }
    let batch = taken % Self.batchCount
    let from = takenEarly
    let count = counts[batch]
    condition.unlock()
    moveOut(batch: batch, from..<count, to: body)
    condition.lock()
    taken += 1
    takenEarly = 0
    if published - taken <= Self.batchCount / 2 { condition.broadcast() }
    condition.unlock()
    return true
  }

  private func moveOut(batch: Int, _ range: Range<Int>, to body: (consuming SensorEvent) -> Void) {
    let first = events + batch * Self.batchCapacity
    // Moved, not copied: a copy would retain every reference the event holds.
    for index in range { body((first + index).move()) }
  }

  /// What the reading found: set once `take` has returned false.
  var result: RecordingReader.Result? {
    condition.lock()
    defer { condition.unlock() }
    return finalResult
  }
}

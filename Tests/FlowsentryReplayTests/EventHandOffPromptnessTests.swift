import FlowsentryCore
import Foundation
import Synchronization
import Testing

@testable import FlowsentryReplay

/// The pipeline takes a slow reader's events as they come, not once a batch, or half the ring, is
/// full: a recording read from a file still being written is replayed as it grows.
@Suite struct EventHandOffPromptnessTests {
  private static func event(_ number: Int) -> SensorEvent {
    .flow(
      FlowEvent(
        name: .netFlowTCPBegin, timestamp: 1_700_000_000_000_000_000 + Int64(number), direction: .outgoing,
        source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("203.0.113.9")!, 443)))
  }

  fileprivate static func number(_ event: SensorEvent) -> Int {
    guard case .flow(let flow) = event else { return -1 }
    return Int(flow.timestamp - 1_700_000_000_000_000_000)
  }

  /// Takes on a thread of its own, as the pipeline does: the numbers of the events taken, in order,
  /// `arrived` signalled once per event and `done` once `take` returned false.
  private final class Taker: Sendable {
    let numbers = Mutex<[Int]>([])
    let arrived = DispatchSemaphore(value: 0)
    let done = DispatchSemaphore(value: 0)

    init(from handOff: EventHandOff) {
      let thread = Thread { [self] in
        while handOff.take({ event in
          numbers.withLock { $0.append(EventHandOffPromptnessTests.number(event)) }
          arrived.signal()
        }) {}
        done.signal()
      }
      thread.name = "hand-off-taker"
      thread.start()
    }

    var taken: [Int] { numbers.withLock { $0 } }
  }

  @Test func theFirstEventsArriveWhileTheReaderWaits() {
    let handOff = EventHandOff()
    let total = 2 * EventHandOff.batchCapacity + 5
    let readerMayGoOn = DispatchSemaphore(value: 0)
    let reader = Thread {
      for number in 0..<3 { handOff.put(Self.event(number)) }
      readerMayGoOn.wait()
      for number in 3..<total { handOff.put(Self.event(number)) }
      handOff.finish(RecordingReader.Result())
    }
    reader.start()
    let taker = Taker(from: handOff)

    let deadline = DispatchTime.now() + 10
    let firstThree = (0..<3).allSatisfy { _ in taker.arrived.wait(timeout: deadline) == .success }
    #expect(firstThree, "the first 3 events were not taken while the reader waited")
    #expect(taker.taken == [0, 1, 2])
    readerMayGoOn.signal()
    #expect(taker.done.wait(timeout: .now() + 30) == .success)
    #expect(taker.taken == Array(0..<total))
    #expect(handOff.result != nil)
  }

  /// One event at a time, each taken before the next is put, past the end of the first batch: the
  /// taking side sleeps between events (or has just given up waiting for a batch) and is woken by the
  /// next one; what it took early from a batch is not taken again when the batch is published.
  @Test func eachEventOfATricklingReaderArrivesBeforeTheNext() {
    let handOff = EventHandOff()
    let total = EventHandOff.batchCapacity + 40
    let next = DispatchSemaphore(value: 0)
    let reader = Thread {
      for number in 0..<total {
        handOff.put(Self.event(number))
        next.wait()
      }
      handOff.finish(RecordingReader.Result())
    }
    reader.start()
    let taker = Taker(from: handOff)

    var lateAt: Int?
    for number in 0..<total {
      if taker.arrived.wait(timeout: .now() + 10) == .timedOut {
        lateAt = number
        break
      }
      #expect(taker.taken.count == number + 1)
      next.signal()
    }
    #expect(lateAt == nil, "event \(lateAt ?? 0) was not taken before the next was put")
    if lateAt != nil { for _ in 0..<total { next.signal() } }
    #expect(taker.done.wait(timeout: .now() + 30) == .success)
    #expect(taker.taken == Array(0..<total))
  }

  /// A reader and a pipeline that each pause now and then, for longer than the wait for a batch or
  /// not: events taken early, from published batches and around the ring's wrap all arrive once, in
  /// order, and neither side is left waiting.
  @Test func pausesOnEitherSideLoseNothingAndKeepTheOrder() {
    let handOff = EventHandOff()
    let total = 6 * EventHandOff.batchCount * EventHandOff.batchCapacity
    let reader = Thread {
      var generator = SystemRandomNumberGenerator()
      for number in 0..<total {
        handOff.put(Self.event(number))
        if Int.random(in: 0..<500, using: &generator) == 0 { usleep(UInt32.random(in: 100...3_000)) }
      }
      handOff.finish(RecordingReader.Result())
    }
    reader.start()
    let taken = Mutex<[Int]>([])
    let done = DispatchSemaphore(value: 0)
    let taker = Thread {
      var generator = SystemRandomNumberGenerator()
      while handOff.take({ event in
        taken.withLock { $0.append(Self.number(event)) }
        if Int.random(in: 0..<700, using: &generator) == 0 { usleep(UInt32.random(in: 100...3_000)) }
      }) {}
      done.signal()
    }
    taker.start()
    #expect(done.wait(timeout: .now() + 60) == .success)
    #expect(taken.withLock { $0 } == Array(0..<total))
    #expect(handOff.result != nil)
  }
}

import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Writes chunks of JSON lines to a file descriptor (stdout) on a thread of its own, so that a slow
/// or stopped reader of stdout delays stdout alone, never the pipeline: beyond `capacityBytes`
/// waiting, a chunk is dropped and its lines are counted (`droppedForSlowReader`).
final class BackgroundWriter: @unchecked Sendable {
  private struct Chunk {
    var bytes: [UInt8]
    var alerts: [Bool]
  }

  private let descriptor: Int32
  private let capacityBytes: Int
  private let condition = NSCondition()
  private var chunks: [Chunk] = []
  /// Written chunks' buffers, emptied with their capacity kept: handed back to `submit`, so that
  /// the pipeline refills a buffer instead of growing a new one from nothing for every batch.
  private var spare: [Chunk] = []
  private var queuedBytes = 0
  private var finishing = false
  private var finished = false
  private var counters = JSONLinesEventSink.Counters()

  init(descriptor: Int32, capacityBytes: Int) {
    self.descriptor = descriptor
    self.capacityBytes = capacityBytes
    let thread = Thread { [self] in run() }
    thread.name = "flowsentry-stdout"
    thread.start()
  }

  /// Takes the lines (leaving the buffers empty for reuse); never blocks.
  func submit(_ bytes: inout [UInt8], _ alerts: inout [Bool]) {
    guard !bytes.isEmpty else { return }
    condition.lock()
    defer { condition.unlock() }
    guard queuedBytes + bytes.count <= capacityBytes else {
      for isAlert in alerts {
        if isAlert { counters.alertsLost += 1 } else { counters.eventsLost += 1 }
      }
      counters.droppedForSlowReader += UInt64(alerts.count)
      bytes.removeAll(keepingCapacity: true)
      alerts.removeAll(keepingCapacity: true)
      return
    }
    var chunk = spare.popLast() ?? Chunk(bytes: [], alerts: [])
    swap(&chunk.bytes, &bytes)
    swap(&chunk.alerts, &alerts)
    queuedBytes += chunk.bytes.count
    chunks.append(chunk)
    condition.signal()
  }

  /// Waits until everything submitted was written (or failed), then stops the thread.
  func finish() {
    condition.lock()
    finishing = true
    condition.signal()
    while !finished { condition.wait() }
    condition.unlock()
  }

  var snapshot: JSONLinesEventSink.Counters {
    condition.lock()
    defer { condition.unlock() }
    return counters
  }

  private func run() {
    while true {
      condition.lock()
      while chunks.isEmpty && !finishing { condition.wait() }
      if chunks.isEmpty && finishing {
        finished = true
        condition.broadcast()
        condition.unlock()
        return
      }
      var chunk = chunks.removeFirst()
      condition.unlock()

      let result = JSONLinesEventSink.write(chunk.bytes, alerts: chunk.alerts, to: descriptor)
      let size = chunk.bytes.count
      chunk.bytes.removeAll(keepingCapacity: true)
      chunk.alerts.removeAll(keepingCapacity: true)
      condition.lock()
      queuedBytes -= size
      counters.add(result)
      // A few spares cover the batches in flight; more would only hold memory.
      if spare.count < 4 { spare.append(chunk) }
      condition.unlock()
    }
  }
}

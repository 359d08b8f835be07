import FlowsentryPipeline
import Foundation
import Synchronization
import Testing

/// A reload's start line and its outcome line, paired per request: each start said is followed by
/// exactly one outcome that knows it, whatever order shutdown puts the loader thread and the
/// caller in.
@Suite struct LoadStartLineTests {
  /// Shutdown's worst order: a request is answered `.busy` before its loader thread, already past
  /// its last check, reaches its start; then the next request is cut short before its load. With
  /// one flag for all requests, the late start was said and the next outcome took it as its own:
  /// a start line whose outcome never came, and a "cut short" line for a load that never started.
  @Test func aStartAfterItsOutcomeIsNotSaidAndMarksNoOtherRequest() {
    let lines = Mutex<[String]>([])
    let first = LoadStartLine()
    #expect(first.answer() == false)
    first.sayStart { lines.withLock { $0.append("start 1") } }
    let second = LoadStartLine()
    #expect(second.answer() == false)
    #expect(lines.withLock { $0 }.isEmpty)
  }

  @Test func aStartSaidIsAnsweredOnceAndSaidOnce() {
    let start = LoadStartLine()
    var said = 0
    start.sayStart { said += 1 }
    start.sayStart { said += 1 }
    #expect(start.answer())
    #expect(said == 1)
  }

  /// The outcome is handled on the caller's task while the start is said on the loader thread: an
  /// outcome that came while its start was being said waits for it, so its line is never first.
  @Test func anOutcomeWaitsForTheStartBeingSaid() async {
    let start = LoadStartLine()
    let entered = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    let order = Mutex<[String]>([])
    Thread {
      start.sayStart {
        entered.signal()
        release.wait()
        order.withLock { $0.append("start") }
      }
    }.start()
    entered.wait()
    let answered = Task.detached {
      let started = start.answer()
      order.withLock { $0.append("outcome") }
      return started
    }
    try? await Task.sleep(for: .milliseconds(100))
    release.signal()
    #expect(await answered.value)
    #expect(order.withLock { $0 } == ["start", "outcome"])
  }
}

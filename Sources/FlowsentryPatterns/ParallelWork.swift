import Foundation
import Synchronization

/// CPU-bound jobs (building Hyperscan databases, whose compiler is thread-safe) shared by a few
/// threads of their own, the caller's among them: never Swift's cooperative pool, which a
/// compile of many seconds would starve.
enum ParallelWork {
  /// Hyperscan's compiler recurses over its graphs: more stack than a thread's default.
  static let stackBytes = 16 << 20

  /// Runs `body` for every job in `0..<jobs` on `threads` threads at most (each takes the next job
  /// not yet taken) and returns their results in job order.
  static func map<Result: Sendable>(
    jobs: Int, threads: Int, _ body: @escaping @Sendable (Int) -> Result
  ) -> [Result] {
    let shared = Shared<Result>(jobs: jobs)
    let work: @Sendable () -> Void = {
      while true {
        let job = shared.next.add(1, ordering: .relaxed).oldValue
        guard job < jobs else { return }
        let result = body(job)
        shared.results.withLock { $0[job] = result }
      }
    }
    let helpers = max(0, min(threads, jobs) - 1)
    let finished = DispatchSemaphore(value: 0)
    for _ in 0..<helpers {
      let thread = Thread {
        work()
        finished.signal()
      }
      thread.stackSize = stackBytes
      thread.start()
    }
    work()
    for _ in 0..<helpers { finished.wait() }
    return shared.results.withLock { results in results.map { $0! } }
  }

  private final class Shared<Result: Sendable>: Sendable {
    let next = Atomic<Int>(0)
    let results: Mutex<[Result?]>

    init(jobs: Int) {
      results = Mutex([Result?](repeating: nil, count: jobs))
    }
  }
}

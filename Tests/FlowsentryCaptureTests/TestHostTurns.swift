import Foundation
import Synchronization
import Testing

/// `@Suite(.testHostsInTurn)`: the suite's test hosts, and every other suite's with this trait in any
/// process on the machine, take turns. They all route parts of 198.51.100.0/24 to their namespace,
/// so two runs at once (two clones' `swift test`) would take each other's traffic. The turn is an
/// exclusive `flock` held for the whole suite, which the kernel releases if the run dies.
/// `TestHost` refuses to be made while no suite of this process holds the turn. Suites with the
/// trait must not be nested: the inner one would wait for the outer.
struct TestHostTurnTrait: SuiteTrait, TestScoping {
  static let lockPath = "/run/flowsentry-test-hosts.lock"
  /// How many suites of this process are inside their turn (more than one only when suites run in
  /// parallel and one waits).
  static let suitesInTurn = Atomic<Int>(0)

  var isRecursive: Bool { false }

  func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? { test.isSuite ? self : nil }

  func provideScope(
    for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
  ) async throws {
    let descriptor = try await Self.waitForTurn()
    Self.suitesInTurn.add(1, ordering: .relaxed)
    defer {
      Self.suitesInTurn.subtract(1, ordering: .relaxed)
      // Closing the descriptor releases the lock.
      close(descriptor)
    }
    try await function()
  }

  struct LockFailure: Error, CustomStringConvertible {
    var description: String
  }

  /// Waits on a thread of its own: another run may hold the lock for minutes, and a blocked thread
  /// of the concurrency pool would stall this run's other tests.
  private static func waitForTurn() async throws -> Int32 {
    try await withCheckedThrowingContinuation { continuation in
      let waiter = Thread {
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
          let reason = String(cString: strerror(errno))
          return continuation.resume(throwing: LockFailure(description: "cannot open \(lockPath): \(reason)"))
        }
        var status: Int32
        repeat { status = flock(descriptor, LOCK_EX) } while status != 0 && errno == EINTR
        guard status == 0 else {
          let reason = String(cString: strerror(errno))
          close(descriptor)
          return continuation.resume(throwing: LockFailure(description: "cannot lock \(lockPath): \(reason)"))
        }
        continuation.resume(returning: descriptor)
      }
      waiter.name = "test-host-turn"
      waiter.start()
    }
  }
}

extension Trait where Self == TestHostTurnTrait {
  static var testHostsInTurn: Self { Self() }
}

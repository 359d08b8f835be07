import FlowsentryTestSupport
import Foundation
import Synchronization
import Testing

/// `@Suite(.testHostsInTurn)`: the suite's test hosts, and every other suite's with this trait in any
/// process on the machine, take turns. They all route parts of 198.51.100.0/24 to their namespace,
/// so two runs at once (two clones' `swift test`) would take each other's traffic. The turn is an
/// exclusive `flock` held for the whole suite, which the kernel releases if the run dies; a run
/// that is stopped or hung keeps it, so the wait has a deadline (`timeoutVariable`).
/// `TestHost` refuses to be made while no suite of this process holds the turn. Suites with the
/// trait must not be nested: the inner one would wait for the outer.
struct TestHostTurnTrait: SuiteTrait, TestScoping {
  static let lockPath = "/run/flowsentry-test-hosts.lock"
  /// Seconds to wait for the turn; 600 when unset.
  static let timeoutVariable = "FLOWSENTRY_TEST_HOST_TURN_TIMEOUT"
  static let defaultTimeout = Duration.seconds(600)
  /// How many suites of this process are inside their turn (more than one only when suites run in
  /// parallel and one waits).
  static let suitesInTurn = Atomic<Int>(0)

  var isRecursive: Bool { false }

  func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? { test.isSuite ? self : nil }

  func provideScope(
    for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
  ) async throws {
    let timeout = try Self.timeout(in: ProcessInfo.processInfo.environment)
    let descriptor = try await TestHostTurnLock.take(Self.lockPath, within: timeout)
    Self.suitesInTurn.add(1, ordering: .relaxed)
    let outcome: Result<Void, any Error>
    do {
      try await function()
      outcome = .success(())
    } catch {
      outcome = .failure(error)
    }
    Self.suitesInTurn.subtract(1, ordering: .relaxed)
    // Closing the descriptor releases the lock (Linux frees it even when close reports an error).
    if let closing = TestHostTurnLock.closeFailure(descriptor, path: Self.lockPath) {
      guard case .failure(let error) = outcome else { throw LockFailure(description: closing) }
      throw LockFailure(description: "\(error); and \(closing)")
    }
    try outcome.get()
  }

  struct LockFailure: Error, CustomStringConvertible {
    var description: String
  }

  /// The wait's bound from `timeoutVariable` in `environment`: seconds, above 0 and at most a day.
  static func timeout(in environment: [String: String]) throws -> Duration {
    guard let text = environment[timeoutVariable] else { return defaultTimeout }
    guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 86_400 else {
      throw LockFailure(description: "\(timeoutVariable)=\(text): give seconds, above 0 and at most 86400")
    }
    return .milliseconds(max(1, Int((seconds * 1000).rounded())))
  }
}

extension Trait where Self == TestHostTurnTrait {
  static var testHostsInTurn: Self { Self() }
}

/// The turn's lock file: an exclusive `flock`, and the holder's pid and start time written in the
/// file (`TestHostTurnHolder`), so that a run that waits too long can say which one keeps it.
enum TestHostTurnLock {
  /// Waits on a thread of its own: another run may hold the lock for minutes, and a blocked thread
  /// of the concurrency pool would stall this run's other tests. Returns the descriptor that holds
  /// the lock (closing it releases the lock).
  static func take(_ path: String, within timeout: Duration) async throws -> Int32 {
    try await withCheckedThrowingContinuation { continuation in
      let waiter = Thread { continuation.resume(with: Result { try takeBlocking(path, within: timeout) }) }
      waiter.name = "test-host-turn"
      waiter.start()
    }
  }

  /// Polls with `LOCK_NB` until the lock is this process's or `timeout` passed, then throws naming
  /// the file and its holder. Blocks: call it through `take`.
  private static func takeBlocking(_ path: String, within timeout: Duration) throws -> Int32 {
    let record = Array(try TestHostTurnHolder.current().record.utf8)
    let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw failure("cannot open \(path)") }
    let deadline = ContinuousClock.now + timeout
    while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
      let error = errno
      guard error == EWOULDBLOCK || error == EINTR else {
        let what = "cannot lock \(path): \(String(cString: strerror(error)))"
        throw TestHostTurnTrait.LockFailure(description: what + closingNote(descriptor, path: path))
      }
      guard ContinuousClock.now < deadline else {
        let holder = holderDescription(descriptor)
        throw TestHostTurnTrait.LockFailure(
          description:
            "waited \(timeout) for the test-host turn: \(path) is held by \(holder); a stopped or hung test run? "
            + "End it, or set \(TestHostTurnTrait.timeoutVariable) (seconds) to wait longer"
            + closingNote(descriptor, path: path))
      }
      Thread.sleep(forTimeInterval: min(0.1, max(0.001, (deadline - ContinuousClock.now).timeInterval)))
    }
    do {
      try write(record, to: descriptor, path: path)
    } catch {
      throw TestHostTurnTrait.LockFailure(description: "\(error)" + closingNote(descriptor, path: path))
    }
    return descriptor
  }

  /// Closes `descriptor`; what went wrong, naming `path`, or nil.
  static func closeFailure(_ descriptor: Int32, path: String) -> String? {
    close(descriptor) == 0 ? nil : "cannot close \(path): \(String(cString: strerror(errno)))"
  }

  /// Closes `descriptor` on the way out of a failure: what to add to its message.
  private static func closingNote(_ descriptor: Int32, path: String) -> String {
    closeFailure(descriptor, path: path).map { " (and \($0))" } ?? ""
  }

  /// Writes `record` over the file's text.
  private static func write(_ record: [UInt8], to descriptor: Int32, path: String) throws {
    guard ftruncate(descriptor, 0) == 0 else { throw failure("cannot truncate \(path)") }
    let written = record.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    guard written == record.count else {
      throw failure(written < 0 ? "cannot write to \(path)" : "short write to \(path) (\(written) bytes)")
    }
  }

  /// The holder the file names, if /proc confirms it.
  private static func holderDescription(_ descriptor: Int32) -> String {
    // One byte past the longest record, so a longer text is read as no record.
    var bytes = [UInt8](repeating: 0, count: TestHostTurnHolder.recordLimit + 1)
    let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
    guard count >= 0 else { return "a process whose pid cannot be read (\(String(cString: strerror(errno))))" }
    return TestHostTurnHolder.describe(record: TestHostTurnHolder(record: bytes[..<count]), lookup: ProcessLookup.of)
  }

  private static func failure(_ what: String, errno error: Int32 = errno) -> TestHostTurnTrait.LockFailure {
    TestHostTurnTrait.LockFailure(description: "\(what): \(String(cString: strerror(error)))")
  }
}

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

/// The turn's lock file: an exclusive `flock`, and the pid of the process that holds it written in
/// the file, so that a run that waits too long can say which one keeps it.
enum TestHostTurnLock {
  /// The longest pid text read back: a pid has at most 7 digits.
  static let recordLimit = 32

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
  /// the file and the pid written in it.
  static func takeBlocking(_ path: String, within timeout: Duration) throws -> Int32 {
    let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw failure("cannot open \(path)") }
    let deadline = ContinuousClock.now + timeout
    while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
      let error = errno
      guard error == EWOULDBLOCK || error == EINTR else {
        close(descriptor)
        throw failure("cannot lock \(path)", errno: error)
      }
      guard ContinuousClock.now < deadline else {
        let holder = holderDescription(descriptor)
        close(descriptor)
        throw TestHostTurnTrait.LockFailure(
          description:
            "waited \(timeout) for the test-host turn: \(path) is held by \(holder); a stopped or hung test run? "
            + "End it, or set \(TestHostTurnTrait.timeoutVariable) (seconds) to wait longer")
      }
      Thread.sleep(forTimeInterval: min(0.1, max(0.001, (deadline - ContinuousClock.now).timeInterval)))
    }
    do {
      try recordHolder(descriptor, path: path)
    } catch {
      close(descriptor)
      throw error
    }
    return descriptor
  }

  /// Writes this process's pid over the file's text.
  private static func recordHolder(_ descriptor: Int32, path: String) throws {
    guard ftruncate(descriptor, 0) == 0 else { throw failure("cannot truncate \(path)") }
    let record = Array("\(getpid())\n".utf8)
    let written = record.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    guard written == record.count else {
      throw failure(written < 0 ? "cannot write to \(path)" : "short write to \(path) (\(written) bytes)")
    }
  }

  /// The pid the holder wrote and what /proc says of it. Older code wrote none, and the holder may
  /// be between taking the lock and writing.
  private static func holderDescription(_ descriptor: Int32) -> String {
    var bytes = [UInt8](repeating: 0, count: recordLimit)
    let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
    guard count >= 0 else { return "a process whose pid cannot be read (\(String(cString: strerror(errno))))" }
    guard let pid = recordedPid(bytes[..<count]) else {
      return "a process that wrote no pid in it (a run of older code?)"
    }
    let holder = ProcessLookup.of(pid)
    // The kernel releases a dead holder's lock, so another process holds it and wrote nothing.
    guard holder != .gone else { return "a process that wrote no pid (pid \(pid), which did, is gone)" }
    return "pid \(pid) (\(holder.summary))"
  }

  /// A pid in decimal on a line of its own, the whole of `bytes`; nil for anything else, or for a
  /// number no pid can be (0, or PID_MAX_LIMIT, 2^22, and above).
  static func recordedPid(_ bytes: ArraySlice<UInt8>) -> Int32? {
    let digits = bytes.dropLast()
    guard bytes.last == UInt8(ascii: "\n"), (1...7).contains(digits.count),
      digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
      let pid = Int32(String(decoding: digits, as: UTF8.self)), (1..<(1 << 22)).contains(pid)
    else { return nil }
    return pid
  }

  private static func failure(_ what: String, errno error: Int32 = errno) -> TestHostTurnTrait.LockFailure {
    TestHostTurnTrait.LockFailure(description: "\(what): \(String(cString: strerror(error)))")
  }
}

import FlowsentryTestSupport
import Foundation
import Testing

/// The test-host turn's wait has a bound: a run that is stopped or hung while it holds the lock
/// makes the others fail, naming it, instead of wait for ever. On a lock file of the test's own,
/// never the real one, which other suites of this run take.
@Suite struct TestHostTurnLockTests {
  private func lockFile() throws -> (directory: URL, path: String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-turn-\(getpid())-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return (directory, directory.appendingPathComponent("test-hosts.lock").path)
  }

  @Test(.requires(.python3))
  func aTurnHeldByAStoppedRunFailsWithinTheBoundNamingItsHolder() async throws {
    let (directory, path) = try lockFile()
    defer { try? FileManager.default.removeItem(at: directory) }
    // What a run does in its turn: the lock, then its pid in the file.
    let holder = try ChildProcess(
      "/usr/bin/python3",
      [
        "-c",
        """
        import fcntl, os, sys, time
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0); os.pwrite(fd, b"%d\\n" % os.getpid(), 0)
        print("held", flush=True)
        time.sleep(120)
        """,
        path,
      ])
    defer {
      holder.kill()
      _ = try? holder.wait()
    }
    let said = try await holder.waitForOutput { $0.contains("held") }
    try #require(said.contains("held"), "the holder did not take the lock: \(holder.stderr)")
    holder.signal(SIGSTOP)

    let timeout = try TestHostTurnTrait.timeout(in: [TestHostTurnTrait.timeoutVariable: "0.5"])
    #expect(timeout == .milliseconds(500))
    let started = ContinuousClock.now
    let error = await #expect(throws: TestHostTurnTrait.LockFailure.self) {
      let descriptor = try await TestHostTurnLock.take(path, within: timeout)
      close(descriptor)
    }
    let waited = ContinuousClock.now - started
    #expect(waited >= timeout && waited < timeout + .seconds(5), "waited \(waited)")
    let message = error?.description ?? ""
    #expect(message.contains(path) && message.contains("pid \(holder.pid) (python3, stopped)"), "\(message)")
  }

  /// The holder's pid is what the holder wrote: this process's, in its own turn; a second take of
  /// the same file (another open file, so flock makes it wait) names it, and after the first is
  /// closed the lock is free again.
  @Test func aTurnRecordsItsHolderWhomAWaiterNames() throws {
    let (directory, path) = try lockFile()
    defer { try? FileManager.default.removeItem(at: directory) }
    // What a holder before wrote does not outlast this one's record.
    try Data(repeating: UInt8(ascii: "7"), count: 4096).write(to: URL(fileURLWithPath: path))
    let descriptor = try TestHostTurnLock.takeBlocking(path, within: .seconds(5))
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "\(getpid())\n")

    let error = #expect(throws: TestHostTurnTrait.LockFailure.self) {
      close(try TestHostTurnLock.takeBlocking(path, within: .milliseconds(200)))
    }
    #expect(error?.description.contains("\(path) is held by pid \(getpid()) (") == true, "\(String(describing: error))")

    close(descriptor)
    let again = try TestHostTurnLock.takeBlocking(path, within: .seconds(5))
    close(again)
  }

  /// Older code's holder writes nothing; a text longer than a pid's, read only in part, is no pid.
  @Test(arguments: [0, 4096])
  func aWaiterNamesNoPidWhereTheFileHoldsNone(digits: Int) throws {
    let (directory, path) = try lockFile()
    defer { try? FileManager.default.removeItem(at: directory) }
    try Data(repeating: UInt8(ascii: "7"), count: digits).write(to: URL(fileURLWithPath: path))
    let holder = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    try #require(holder >= 0)
    defer { close(holder) }
    try #require(flock(holder, LOCK_EX) == 0)
    let error = #expect(throws: TestHostTurnTrait.LockFailure.self) {
      close(try TestHostTurnLock.takeBlocking(path, within: .milliseconds(100)))
    }
    #expect(error?.description.contains("held by a process that wrote no pid in it") == true)
  }

  /// A pid left in the file by a holder that is gone is not the holder's (the kernel released the
  /// gone one's lock).
  @Test func aWaiterDoesNotNameAGonePidAsTheHolder() throws {
    let (directory, path) = try lockFile()
    defer { try? FileManager.default.removeItem(at: directory) }
    // A pid no process has now.
    let gone = try #require((3_000_000..<4_194_303).lazy.map(Int32.init).first { ProcessLookup.of($0) == .gone })
    try Data("\(gone)\n".utf8).write(to: URL(fileURLWithPath: path))
    let holder = open(path, O_RDWR | O_CLOEXEC)
    try #require(holder >= 0)
    defer { close(holder) }
    try #require(flock(holder, LOCK_EX) == 0)
    let error = #expect(throws: TestHostTurnTrait.LockFailure.self) {
      close(try TestHostTurnLock.takeBlocking(path, within: .milliseconds(100)))
    }
    #expect(
      error?.description.contains("held by a process that wrote no pid (pid \(gone), which did, is gone)") == true,
      "\(String(describing: error))")
  }

  @Test func theRecordReadBackIsAPidOrNothing() {
    func pid(_ text: String) -> Int32? { TestHostTurnLock.recordedPid(ArraySlice(Array(text.utf8))) }
    #expect(pid("1234\n") == 1234)
    #expect(pid("4194303\n") == 4_194_303)
    for text in ["", "\n", "1234", "0\n", "4194304\n", "-5\n", "+5\n", " 5\n", "12 34\n", "99999999999\n", "5\n\n"] {
      #expect(pid(text) == nil, "\(text.debugDescription)")
    }
  }

  @Test func theBoundComesFromTheEnvironmentInRange() throws {
    #expect(try TestHostTurnTrait.timeout(in: [:]) == .seconds(600))
    #expect(try TestHostTurnTrait.timeout(in: [TestHostTurnTrait.timeoutVariable: "2.5"]) == .milliseconds(2500))
    #expect(try TestHostTurnTrait.timeout(in: [TestHostTurnTrait.timeoutVariable: "86400"]) == .seconds(86_400))
    for text in ["", "0", "-1", "abc", "nan", "inf", "86401", "1e9"] {
      let error = #expect(throws: TestHostTurnTrait.LockFailure.self, "\(text.debugDescription)") {
        try TestHostTurnTrait.timeout(in: [TestHostTurnTrait.timeoutVariable: text])
      }
      #expect(error?.description.contains(TestHostTurnTrait.timeoutVariable) == true)
    }
  }
}

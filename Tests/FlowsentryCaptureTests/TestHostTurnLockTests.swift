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

  /// What a run of this code (`pid starttime`) or of older code (the pid alone) does in its turn:
  /// the lock, then its record in the file. Only the first is named without a doubt.
  @Test(.requires(.python3), arguments: [true, false])
  func aTurnHeldByAStoppedRunFailsWithinTheBoundNamingItsHolder(writesStartTime: Bool) async throws {
    let (directory, path) = try lockFile()
    defer { try? FileManager.default.removeItem(at: directory) }
    let holder = try ChildProcess(
      "/usr/bin/python3",
      [
        "-c",
        """
        import fcntl, os, sys, time
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        stat = open("/proc/self/stat").read()
        start = b" " + stat[stat.rindex(")") + 2:].split()[19].encode() if sys.argv[2] == "1" else b""
        os.ftruncate(fd, 0); os.pwrite(fd, b"%d%s\\n" % (os.getpid(), start), 0)
        print("held", flush=True)
        time.sleep(120)
        """,
        path, writesStartTime ? "1" : "0",
      ])
    defer {
      holder.kill()
      _ = try? holder.wait()
    }
    let said = try await holder.waitForOutput { $0.contains("held") }
    try #require(said.contains("held"), "the holder did not take the lock: \(holder.stderr)")
    guard case .alive(_, _, let startTime) = ProcessLookup.of(holder.pid) else {
      Issue.record("/proc/\(holder.pid)/stat: \(ProcessLookup.of(holder.pid))")
      return
    }
    let written = try String(contentsOfFile: path, encoding: .utf8)
    #expect(written == (writesStartTime ? "\(holder.pid) \(startTime)\n" : "\(holder.pid)\n"))
    holder.signal(SIGSTOP)

    let timeout = try TestHostTurnTrait.timeout(in: [TestHostTurnTrait.timeoutVariable: "0.5"])
    #expect(timeout == .milliseconds(500))
    let started = ContinuousClock.now
    let error = await #expect(throws: TestHostTurnTrait.LockFailure.self) {
      expectClosed(try await TestHostTurnLock.take(path, within: timeout), path)
    }
    let waited = ContinuousClock.now - started
    #expect(waited >= timeout && waited < timeout + .seconds(5), "waited \(waited)")
    let message = error?.description ?? ""
    let named = "\(path) is held by pid \(holder.pid) (python3, stopped)"
    let doubt = " unless a later process has its pid: older code wrote it, without a start time;"
    #expect(message.contains(named + (writesStartTime ? ";" : doubt)), "\(message)")
  }

  /// The holder's record is what the holder wrote: this process's pid and start time, in its own
  /// turn; a second take of the same file (another open file, so flock makes it wait) names it,
  /// and after the first is closed the lock is free again.
  @Test func aTurnRecordsItsHolderWhomAWaiterNames() async throws {
    let (directory, path) = try lockFile()
    defer { try? FileManager.default.removeItem(at: directory) }
    guard case .alive(_, _, let startTime) = ProcessLookup.of(getpid()) else {
      Issue.record("/proc/\(getpid())/stat: \(ProcessLookup.of(getpid()))")
      return
    }
    // What a holder before wrote does not outlast this one's record.
    try Data(repeating: UInt8(ascii: "7"), count: 4096).write(to: URL(fileURLWithPath: path))
    let descriptor = try await TestHostTurnLock.take(path, within: .seconds(5))
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "\(getpid()) \(startTime)\n")

    let error = await #expect(throws: TestHostTurnTrait.LockFailure.self) {
      expectClosed(try await TestHostTurnLock.take(path, within: .milliseconds(200)), path)
    }
    #expect(error?.description.contains("\(path) is held by pid \(getpid()) (") == true, "\(String(describing: error))")

    expectClosed(descriptor, path)
    expectClosed(try await TestHostTurnLock.take(path, within: .seconds(5)), path)
  }

  /// Older code's holder writes nothing; a text longer than a record's, read only in part, is none.
  @Test(arguments: [0, 4096])
  func aWaiterNamesNoPidWhereTheFileHoldsNone(digits: Int) async throws {
    let error = try await waiterError(record: String(repeating: "7", count: digits))
    #expect(error.contains("held by a process that wrote no pid in it"), "\(error)")
  }

  /// A pid left in the file by a holder that is gone is not the holder's (the kernel released the
  /// gone one's lock), whether or not a start time comes with it.
  @Test(arguments: [true, false])
  func aWaiterDoesNotNameAGonePidAsTheHolder(withStartTime: Bool) async throws {
    // A pid no process has now.
    let gone = try #require((3_000_000..<4_194_303).lazy.map(Int32.init).first { ProcessLookup.of($0) == .gone })
    let error = try await waiterError(record: withStartTime ? "\(gone) 12345\n" : "\(gone)\n")
    #expect(error.contains("held by a process that wrote no pid (pid \(gone), which did, is gone)"), "\(error)")
  }

  /// A pid left in the file by a holder that is gone and given since to another process (here this
  /// one, with the start time it does not have) is not named as the holder.
  @Test func aWaiterDoesNotNameAPidALaterProcessHasAsTheHolder() async throws {
    guard case .alive(_, _, let startTime) = ProcessLookup.of(getpid()) else {
      Issue.record("/proc/\(getpid())/stat: \(ProcessLookup.of(getpid()))")
      return
    }
    let error = try await waiterError(record: "\(getpid()) \(startTime &- 1)\n")
    #expect(
      error.contains(
        "held by a process that wrote no pid (pid \(getpid()), which did, is gone; a later process has its pid)"),
      "\(error)")
    #expect(!error.contains("held by pid"), "\(error)")
  }

  /// The message a waiter fails with while a descriptor of this test holds the lock of a file that
  /// says `record`.
  private func waiterError(record: String) async throws -> String {
    let (directory, path) = try lockFile()
    defer { try? FileManager.default.removeItem(at: directory) }
    try Data(record.utf8).write(to: URL(fileURLWithPath: path))
    let holder = open(path, O_RDWR | O_CLOEXEC)
    try #require(holder >= 0)
    defer { expectClosed(holder, path) }
    try #require(flock(holder, LOCK_EX) == 0)
    let error = await #expect(throws: TestHostTurnTrait.LockFailure.self) {
      expectClosed(try await TestHostTurnLock.take(path, within: .milliseconds(100)), path)
    }
    return error?.description ?? ""
  }

  @Test func theRecordReadBackIsAHolderOrNothing() {
    func holder(_ text: String) -> TestHostTurnHolder? { TestHostTurnHolder(record: ArraySlice(Array(text.utf8))) }
    #expect(holder("1234 98765\n") == TestHostTurnHolder(pid: 1234, startTime: 98_765))
    #expect(holder("4194303 18446744073709551615\n") == TestHostTurnHolder(pid: 4_194_303, startTime: .max))
    #expect(holder("1234 0\n") == TestHostTurnHolder(pid: 1234, startTime: 0))
    // Older code's record.
    #expect(holder("1234\n") == TestHostTurnHolder(pid: 1234, startTime: nil))
    #expect(holder("4194303\n") == TestHostTurnHolder(pid: 4_194_303, startTime: nil))
    let longest = "4194303 18446744073709551615\n"
    #expect(longest.utf8.count == TestHostTurnHolder.recordLimit)
    for text in [
      "", "\n", "1234", "0\n", "4194304\n", "-5\n", "+5\n", " 5\n", "12 34", "99999999999\n", "5\n\n", "1234 \n",
      "1234  5\n", " 1234 5\n", "1234 5 6\n", "1234 +5\n", "1234 -5\n", "1234 x\n", "0 5\n", "4194304 5\n",
      "1234 18446744073709551616\n", "1234 000000000000000000001\n", "1234 5\n\n", "1234\t5\n",
    ] {
      #expect(holder(text) == nil, "\(text.debugDescription)")
    }
    for record in [TestHostTurnHolder(pid: 77, startTime: 123), TestHostTurnHolder(pid: 77, startTime: nil)] {
      #expect(holder(record.record) == record)
    }
  }

  /// The holder is named only when /proc shows the process that wrote the record: same pid and,
  /// when the record has one, same start time.
  @Test func aWaiterNamesTheHolderOnlyWhenProcConfirmsIt() {
    let stopped: (Int32) -> ProcessLookup = { _ in .alive(command: "swift-test", state: "T", startTime: 500) }
    func said(_ record: TestHostTurnHolder?, _ lookup: (Int32) -> ProcessLookup) -> String {
      TestHostTurnHolder.describe(record: record, lookup: lookup)
    }
    #expect(said(.init(pid: 42, startTime: 500), stopped) == "pid 42 (swift-test, stopped)")
    #expect(
      said(.init(pid: 42, startTime: 499), stopped)
        == "a process that wrote no pid (pid 42, which did, is gone; a later process has its pid)")
    #expect(
      said(.init(pid: 42, startTime: 500), { _ in .gone }) == "a process that wrote no pid (pid 42, which did, is gone)"
    )
    #expect(
      said(.init(pid: 42, startTime: nil), { _ in .gone }) == "a process that wrote no pid (pid 42, which did, is gone)"
    )
    #expect(
      said(.init(pid: 42, startTime: nil), stopped)
        == "pid 42 (swift-test, stopped) unless a later process has its pid: older code wrote it, without a start time")
    #expect(
      said(.init(pid: 42, startTime: 500), { _ in .unknown("open: Permission denied") })
        == "pid 42 if it still runs (/proc does not say: open: Permission denied)")
    #expect(said(nil, stopped) == "a process that wrote no pid in it (a run of older code?)")
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

/// Closes a descriptor of a test, recording an issue if that fails.
private func expectClosed(_ descriptor: Int32, _ path: String, sourceLocation: SourceLocation = #_sourceLocation) {
  if let failure = TestHostTurnLock.closeFailure(descriptor, path: path) {
    Issue.record("\(failure)", sourceLocation: sourceLocation)
  }
}

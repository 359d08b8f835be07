import FlowsentryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The tests' process runner: what every suite that starts a process relies on.
@Suite struct ChildProcessTests {
  /// Both streams written past a pipe's capacity before the child ends: a runner that read one
  /// stream and then the other, or waited before reading, would hang here.
  @Test func twoFloodedStreamsAreReadWhileTheChildRuns() throws {
    let child = try ChildProcess(
      "/bin/sh", ["-c", "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; head -c 524288 /dev/zero"])
    #expect(try child.wait(timeout: .seconds(20)) == .exited(0))
    #expect(child.stdout.utf8.count == 1_572_864)
    #expect(child.stderr.utf8.count == 1_048_576)
  }

  @Test func capturedOutputIsBoundedAndTheRestCounted() throws {
    let child = try ChildProcess("/bin/sh", ["-c", "head -c 200000 /dev/zero"], outputLimit: 1000)
    try child.wait(timeout: .seconds(20))
    #expect(child.stdout.utf8.count == 1000)
    #expect(child.droppedOutput.stdout == 199_000)
  }

  @Test func exitCodesAndSignalsAreReportedApart() throws {
    #expect(try ChildProcess.run("/bin/sh", ["-c", "exit 3"]).termination == .exited(3))
    let killed = try ChildProcess.run("/bin/sh", ["-c", "kill -KILL $$"])
    #expect(killed.termination == .signaled(SIGKILL))
    #expect(killed.status == 128 + SIGKILL)
    #expect(throws: ChildProcessError.self) { try ChildProcess.output(of: "/bin/sh", ["-c", "exit 1"]) }
  }

  /// The test runner's threads block signals; a child that inherited that would ignore SIGTERM.
  @Test func aChildTakesSIGTERMWhateverTheRunnerBlocks() async throws {
    let child = try ChildProcess("/bin/sleep", ["1000"])
    child.signal(SIGTERM)
    #expect(try await child.exit(timeout: .seconds(10)) == .signaled(SIGTERM))
  }

  /// Past its deadline the child is killed and what it started with it; it stays in the runner's
  /// process group, so that whatever kills the runner kills it too.
  @Test func aTimeoutKillsTheChildAndWhatItStarted() async throws {
    let child = try ChildProcess("/bin/sh", ["-c", "sleep 1000 & echo $!; wait"])
    #expect(getpgid(child.pid) == getpgrp())
    let printed = try await child.waitForOutput { $0.hasSuffix("\n") }
    let grandchild = try #require(pid_t(printed.trimmingCharacters(in: .whitespacesAndNewlines)))
    #expect(throws: ChildProcessError.self) { try child.wait(timeout: .milliseconds(300)) }
    #expect(child.termination == .signaled(SIGKILL))
    let deadline = ContinuousClock.now + .seconds(5)
    while Self.isAlive(grandchild) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
    #expect(!Self.isAlive(grandchild), "sleep \(grandchild) outlived the shell that started it")
  }

  /// Running, and not a zombie waiting for whoever inherited it.
  static func isAlive(_ pid: pid_t) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { return false }
    return !stat[close...].hasPrefix(") Z")
  }

  @Test func aMissingRequirementIsNamedWithItsRemedy() {
    #expect(TestEnvironment.unmet([.executable("/bin/sh")]) == nil)
    let message = TestEnvironment.unmet([.executable("/nonexistent/tool", remedy: "install it")])
    #expect(message?.contains("/nonexistent/tool (install it)") == true)
    #expect(
      message?.hasPrefix(TestEnvironment.mustRunEverything ? "FLOWSENTRY_REQUIRE_" : "skipped: needs ") == true,
      "\(message ?? "")")
  }
}

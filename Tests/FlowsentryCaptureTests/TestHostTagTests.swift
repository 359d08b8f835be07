import FlowsentryTestSupport
import Foundation
import Testing

/// Test hosts are attributed to the process that made them, not to its pid alone: a gone run's
/// pid given since to another process (another test run, even) leaves the gone run's hosts
/// leftovers, and a live run's hosts are its own whatever its command.
@Suite struct TestHostTagTests {
  @Test(arguments: [
    TestHostTag(pid: 0, startTime: 0, count: 0),
    TestHostTag(pid: 4_194_303, startTime: TestHostTag.startTimeMask, count: TestHostTag.countLimit - 1),
    TestHostTag(pid: 1234, startTime: 987_654_321, count: 3),
  ])
  func aTagFitsAnInterfaceNameAndReadsBack(tag: TestHostTag) {
    let name = tag.description
    #expect(name.utf8.count == TestHostTag.length)
    // IFNAMSIZ is 16 with the terminating NUL.
    #expect(("fsh" + name).utf8.count <= 15 && ("fsp" + name).utf8.count <= 15)
    #expect(TestHostTag(name[...]) == tag)
  }

  @Test func theStartTimeKeepsItsLow36Bits() {
    let late = TestHostTag(pid: 7, startTime: 1 << 36 | 42, count: 1)
    #expect(late.startTime == 42)
    #expect(TestHostTag(late.description[...]) == late)
  }

  @Test func otherNamesAreNoTag() {
    for name in ["1234-5", "4194304-7", "00000000001", "0000000000001", "0000000000A1", "+00000000001", "zzzzzzzzzzzz"]
    {
      #expect(TestHostTag(name[...]) == nil, "\(name)")
    }
  }

  private let thisRun = TestHostRun(pid: 500, startTime: 9000)

  private func tag(_ pid: Int32, _ startTime: UInt64, count: Int = 0) -> TestHostTag {
    TestHostTag(pid: pid, startTime: startTime, count: count)
  }

  @Test func thisRunsHostsAreLeftoversOnceNoHostHoldsThem() {
    let held = tag(500, 9000, count: 1)
    let lookup: (Int32) -> ProcessLookup = { _ in
      Issue.record("this run needs no lookup"); return .gone
    }
    #expect(!held.isLeftover(thisRun: thisRun, held: [held], lookup: lookup))
    #expect(tag(500, 9000, count: 2).isLeftover(thisRun: thisRun, held: [held], lookup: lookup))
  }

  @Test func anotherRunsHostsAreLeftoversUnlessThatVeryProcessRuns() {
    let running: (Int32) -> ProcessLookup = { _ in .alive(command: "sleep", state: "S", startTime: 7000) }
    #expect(!tag(600, 7000).isLeftover(thisRun: thisRun, held: [], lookup: running))
    // The pid is another process's now, or this run's own (a gone run had it before).
    #expect(tag(600, 6999).isLeftover(thisRun: thisRun, held: [], lookup: running))
    #expect(
      tag(500, 8999).isLeftover(
        thisRun: thisRun, held: [], lookup: { _ in .alive(command: "x", state: "R", startTime: 9000) }))
    #expect(tag(600, 7000).isLeftover(thisRun: thisRun, held: [], lookup: { _ in .gone }))
    // What /proc does not tell is kept.
    #expect(!tag(600, 7000).isLeftover(thisRun: thisRun, held: [], lookup: { _ in .unknown("no access") }))
    // A start time past 36 bits is compared by its low bits, as the tag keeps it.
    let wrapped: (Int32) -> ProcessLookup = { _ in .alive(command: "x", state: "S", startTime: 1 << 36 | 7000) }
    #expect(!tag(600, 7000).isLeftover(thisRun: thisRun, held: [], lookup: wrapped))
  }

  /// Field 22 is the start time; the command in parentheses may hold both parentheses and spaces.
  @Test func aStatLineGivesStateAndStartTimeWhateverTheCommand() {
    let tail = "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 123456 20 21"
    #expect(ProcessLookup(stat: "42 (a) b (c) T \(tail)") == .alive(command: "a) b (c", state: "T", startTime: 123_456))
    #expect(ProcessLookup(stat: "42 (sleep) Z \(tail)") == .gone)
    for stat in ["", "42 sleep S \(tail)", "42 (sleep) S 1 2 3", "42 (sleep) S \(tail.replacing("123456", with: "x"))"]
    {
      guard case .unknown = ProcessLookup(stat: stat) else {
        Issue.record("\(stat.debugDescription) read as \(ProcessLookup(stat: stat))")
        continue
      }
    }
  }

  /// Against this machine's /proc: this run's own tag is not a leftover, a live process's tag with
  /// its start time is kept, and the same pid with another start time is a leftover.
  @Test func theOwnerCheckAgainstLiveProcesses() throws {
    let thisRun = try TestHostRun.current.get()
    #expect(thisRun.pid == getpid())
    let own = TestHostTag(pid: thisRun.pid, startTime: thisRun.startTime, count: 5)
    #expect(!own.isLeftover(thisRun: thisRun, held: [own], lookup: ProcessLookup.of))

    let other = try ChildProcess("/bin/sleep", ["60"], stdout: .discard, stderr: .discard)
    defer {
      other.kill()
      _ = try? other.wait()
    }
    guard case .alive(let command, _, let startTime) = ProcessLookup.of(other.pid) else {
      Issue.record("/proc/\(other.pid)/stat: \(ProcessLookup.of(other.pid))")
      return
    }
    #expect(command == "sleep")
    // Field 22 as cut counts it, for a command without spaces.
    let field22 = try ChildProcess.output(of: "/usr/bin/cut", ["-d", " ", "-f22", "/proc/\(other.pid)/stat"])
    #expect(UInt64(field22.trimmingCharacters(in: .whitespacesAndNewlines)) == startTime)
    let otherRun = TestHostTag(pid: other.pid, startTime: startTime, count: 0)
    #expect(!otherRun.isLeftover(thisRun: thisRun, held: [], lookup: ProcessLookup.of))
    let gonePredecessor = TestHostTag(pid: other.pid, startTime: startTime &+ 1, count: 0)
    #expect(gonePredecessor.isLeftover(thisRun: thisRun, held: [], lookup: ProcessLookup.of))
  }
}

import FlowsentryTestSupport
import Foundation
import Testing

/// The clean-up on real namespaces and links named as runs name them: a live run's stay whatever
/// its command, and those whose pid is now another process's (another live test run's, even) go.
@Suite(.serialized, .requires(.root, .ip), .testHostsInTurn)
struct TestHostAttributionTests {
  @Test func hostsGoWithTheProcessThatMadeThemNotWithItsPid() throws {
    let host = try TestHost()
    defer { host.remove() }
    let thisRun = try TestHostRun.current.get()
    // A live process: to the clean-up, another run, then a later holder of a gone run's pid.
    let other = try ChildProcess("/bin/sleep", ["60"], stdout: .discard, stderr: .discard)
    defer {
      other.kill()
      _ = try? other.wait()
    }
    guard case .alive(_, _, let otherStart) = ProcessLookup.of(other.pid) else {
      Issue.record("/proc/\(other.pid)/stat: \(ProcessLookup.of(other.pid))")
      return
    }
    let liveRun = TestHostTag(pid: other.pid, startTime: otherStart, count: 1)
    let reusedPid = TestHostTag(pid: other.pid, startTime: otherStart &+ 1, count: 2)
    // This process's pid, had by a gone run before it.
    let ownPidEarlier = TestHostTag(pid: thisRun.pid, startTime: thisRun.startTime &- 1, count: 3)
    let held = try #require(TestHostTag(host.tag[...]))
    let ownUnheld = TestHostTag(
      pid: thisRun.pid, startTime: thisRun.startTime, count: (held.count + 1) % TestHostTag.countLimit)
    let fakes = FakeTestHosts(tags: [liveRun, reusedPid, ownPidEarlier, ownUnheld].map(\.description))
    defer { fakes.remove() }
    try fakes.make()
    // A host link whose namespace's name is gone.
    try fakes.dropNamespace(of: reusedPid.description)

    TestHost.removeLeftovers()

    let (namespaces, links) = FakeTestHosts.present()
    for tag in [reusedPid, ownPidEarlier, ownUnheld] {
      #expect(!namespaces.contains("fs-test-\(tag)") && !links.contains("fsh\(tag)"), "\(tag) stayed")
    }
    #expect(namespaces.contains("fs-test-\(liveRun)") && links.contains("fsh\(liveRun)"))
    #expect(namespaces.contains(host.namespace) && links.contains(host.hostLink))
  }
}

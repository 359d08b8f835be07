import Foundation
import Testing

/// What a test host's clean-up removes: the namespaces and links of runs that are gone and this
/// run's own that no host holds, never a live host's or another live run's (two clones' `swift test`
/// at once).
@Suite(.serialized, .requires(.root, .ip), .testHostsInTurn)
struct TestHostLeftoverTests {
  @Test func onlyTheLeftoversOfGoneRunsAndOfThisOneGo() throws {
    let host = try TestHost()
    defer { host.remove() }
    // Above PID_MAX_LIMIT (2^22): no process has it.
    let goneTag = "4194304-7"
    let ownTag = "\(getpid())-998"
    // A live process whose command is this run's (a copy of sleep named as the test binary): to
    // the clean-up, another run.
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-leftover-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let ownExecutable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    let lookalike = directory.appendingPathComponent((ownExecutable as NSString).lastPathComponent).path
    try FileManager.default.copyItem(atPath: "/bin/sleep", toPath: lookalike)
    let otherRun = try SpawnedProcess(lookalike, ["60"], captureOutput: false)
    defer { otherRun.terminate() }
    // A live process of another program, whose pid a gone run's names may carry once reused.
    let reused = try SpawnedProcess("/bin/sleep", ["60"], captureOutput: false)
    defer { reused.terminate() }
    let otherTag = "\(otherRun.pid)-1"
    let reusedTag = "\(reused.pid)-1"
    let fakes = FakeTestHosts(tags: [goneTag, ownTag, otherTag, reusedTag])
    defer { fakes.remove() }
    try fakes.make()
    // A host link whose namespace's name is gone.
    try fakes.dropNamespace(of: goneTag)

    TestHost.removeLeftovers()

    let (namespacesAfter, linksAfter) = FakeTestHosts.present()
    for tag in [goneTag, ownTag, reusedTag] {
      #expect(!namespacesAfter.contains("fs-test-\(tag)") && !linksAfter.contains("fsh\(tag)"), "\(tag) stayed")
    }
    #expect(namespacesAfter.contains("fs-test-\(otherTag)") && linksAfter.contains("fsh\(otherTag)"))
    #expect(namespacesAfter.contains(host.namespace) && linksAfter.contains(host.hostLink))
  }
}

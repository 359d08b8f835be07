import FlowsentryTestSupport
import Foundation
import Testing

/// SIGTERM or SIGINT while the monitor starts ends it as a stop while it runs does: one `stopped`
/// record, exit status 0, nothing attached. The start's longest part is a cold build of its regexes
/// (seconds to minutes, before anything attaches), where the signals' default action used to kill
/// it without a word.
@Suite(.serialized, .requires(.root, .cgroup2, .bpftool))
struct StopDuringStartTests {
  @Test(arguments: [SIGTERM, SIGINT])
  func aStopDuringThePatternBuildCutsItShortAndStopsAsWhileRunning(_ stop: Int32) async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-stopstart-\(UUID())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    // Hyperscan's compile of this shape grows faster than the count: 200 built in 3.4 s, 800 in
    // 129 s. 250 leave seconds to land in, on a fast machine too.
    let rules = (0..<250).map { index in
      """
      - rule:
          id: T-\(index)
          name: regex \(index)
          condition: remote_dns matches 'host\(index)[0-9]{1,3}\\.(?:example|test)\\.net'
      """
    }
    try rules.joined(separator: "\n").write(
      to: directory.appendingPathComponent("rules.yaml"), atomically: true, encoding: .utf8)
    let configuration = directory.appendingPathComponent("config.yaml").path
    // A fresh state directory: the build is cold.
    try """
    cgroup: \(cgroup.path)
    events: none
    default_rules: false
    rules: [rules.yaml]
    state_dir: \(directory.appendingPathComponent("state").path)
    spool_dir: \(directory.appendingPathComponent("spool").path)

    """.write(toFile: configuration, atomically: true, encoding: .utf8)
    let monitor = try MonitorProcess(["monitor", "--config", configuration])
    defer { monitor.kill() }
    try await monitor.waitForStderr("building the pattern sets", timeout: .seconds(60))
    try await Task.sleep(for: .milliseconds(300))
    let signalled = ContinuousClock.now
    monitor.signal(stop)
    // An impatient second one (the other signal, so that the kernel cannot merge the two) changes
    // nothing, as while the monitor runs.
    monitor.signal(stop == SIGTERM ? SIGINT : SIGTERM)
    #expect(try await monitor.exitStatus() == 0, "\(monitor.stderr)")
    let took = ContinuousClock.now - signalled
    let records = monitor.logRecords()
    let messages = records.compactMap { $0["message"] as? String }
    #expect(messages.filter { $0 == "stopped" }.count == 1, "\(monitor.stderr)")
    #expect(messages.last == "stopped", "\(messages)")
    // Cut short, not waited for: the build never said it ended, and the exit came at once.
    #expect(!messages.contains { $0.hasPrefix("patterns: ") }, "\(messages)")
    #expect(!messages.contains { $0.hasPrefix("monitoring cgroup") }, "\(messages)")
    #expect(took < .seconds(3), "exit \(took) after the signal")
    #expect(try attachedPrograms(cgroup.path).isEmpty)
  }
}

/// The program ids `bpftool cgroup show` lists on the cgroup at `path`.
func attachedPrograms(_ path: String) throws -> [String] {
  let output = try run("/usr/sbin/bpftool", ["cgroup", "show", path])
  return output.split(separator: "\n").dropFirst().compactMap { $0.split(separator: " ").first.map(String.init) }
}

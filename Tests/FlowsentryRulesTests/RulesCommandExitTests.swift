import FlowsentryTestSupport
import Foundation
import Testing

/// `flowsentry rules check` and `rules test` on the hostile files of HostileRuleFileTests end with an
/// exit status and positioned errors, never by a signal.
@Suite struct RulesCommandExitTests {
  static var binary: String {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [beside.appendingPathComponent("flowsentry").path, ".build/debug/flowsentry"]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
  }

  static let hostileFiles: [String: String] = [
    "numbers.yaml":
      "- rule:\n    id: T-1\n    name: t\n    condition: dst_port > 0\n    tests:\n      - name: t\n        expect: 0\n"
      + "        events:\n          - {event: net_flow_tcp_end, process: {pid: -1, uid: 4294967296}, "
      + "repeat: 100000, every: 31d, vary: {dst_port: 4611686018427387904}}\n",
    "nesting.yaml":
      "- rule:\n    id: T-1\n    name: t\n    condition: \"" + String(repeating: "(", count: 20_000) + "dst_port == 1"
      + String(repeating: ")", count: 20_000) + "\"\n",
    "macros.yaml":
      "- macro:\n    name: m0\n    condition: dst_port == 1\n"
      + (1...24).map { "- macro:\n    name: m\($0)\n    condition: m\($0 - 1) or m\($0 - 1)\n" }.joined()
      + "- rule:\n    id: T-1\n    name: t\n    condition: m24\n",
  ]

  @Test(arguments: ["check", "test"], hostileFiles.keys.sorted())
  func hostileFilesEndWithAnErrorStatus(command: String, file: String) throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "fs-cli-\(getpid())-\(command)-\(file)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent(file)
    try Self.hostileFiles[file]!.write(to: path, atomically: true, encoding: .utf8)
    let result = try ChildProcess.run(Self.binary, ["rules", command, "--no-default-rules", path.path])
    let stderr = result.stderr
    if case .signaled(let signal) = result.termination {
      Issue.record("\(command) \(file) ended by signal \(signal)")
    }
    #expect(result.termination == .exited(1), "\(command) \(file): \(result.termination)")
    #expect(stderr.contains(path.path + ":") && stderr.contains(": error: "), "\(stderr.prefix(500))")
  }
}

import Foundation
import Testing

/// `flowsentry replay` as an analyst runs it: an unprivileged user, a capture file, JSON lines out.
@Suite struct ReplayCommandTests {
  static var binary: String {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [beside.appendingPathComponent("flowsentry").path, ".build/debug/flowsentry"]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
  }

  /// Runs the binary; as root, first drops to nobody (uid and gid 65534, no groups) with setpriv.
  func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    if geteuid() == 0 {
      process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
      process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", Self.binary] + arguments
    } else {
      process.executableURL = URL(fileURLWithPath: Self.binary)
      process.arguments = arguments
    }
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    try process.run()
    let stdout = output.fileHandleForReading.readDataToEndOfFile()
    let stderr = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
  }

  @Test func replaysACaptureWithoutPrivileges() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-cli-\(getpid()).pcap").path
    try ReplayTests().capture(at: path)
    defer { try? FileManager.default.removeItem(atPath: path) }

    let result = try run(["replay", path])
    #expect(result.status == 0, "\(result.stderr)")
    let objects = result.stdout.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    let events = objects.compactMap { $0["event"] as? String }
    #expect(events == ["net_flow_tcp_begin", "net_flow_tcp_end"])
    let alerts = objects.filter { $0["type"] as? String == "alert" }.compactMap {
      ($0["rule"] as? [String: Any])?["id"]
    }
    #expect(alerts.contains { $0 as? String == "FS-DNS-002" })
    #expect(result.stderr.contains("10 packets, 10 decoded"), "\(result.stderr)")
    // stderr is not a terminal: the records are JSON, the file's damage one at level error.
    let records = result.stderr.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    #expect(
      records.contains {
        $0["level"] as? String == "error" && ($0["message"] as? String)?.hasPrefix("\(path): after packet 10") == true
      }, "\(result.stderr)")

    let missing = try run(["replay", "/nonexistent/capture.pcap"])
    #expect(missing.status == 1)
    #expect(missing.stderr.contains("/nonexistent/capture.pcap:"))
  }
}

import FlowsentryTestSupport
import Foundation
import Testing

/// `flowsentry replay` as an analyst runs it: an unprivileged user, a capture file, JSON lines out.
@Suite struct ReplayCommandTests {
  /// Runs the binary; as root, first drops to nobody (uid and gid 65534, no groups) with setpriv.
  func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let result =
      geteuid() == 0
      ? try ChildProcess.run(
        "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", flowsentryBinary] + arguments)
      : try ChildProcess.run(flowsentryBinary, arguments)
    return (result.status, result.stdout, result.stderr)
  }

  @Test func replaysACaptureWithoutPrivileges() throws {
    if geteuid() == 0 { try TestEnvironment.require(.executable("/usr/bin/setpriv")) }
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

  /// The command ends the run once, after its last file: a lookup answered in the next file is not
  /// reported, one the last file ends with is, and its alert and the summary's count follow.
  @Test func aLookupStillWaitingWhenTheLastFileEndsIsReported() throws {
    if geteuid() == 0 { try TestEnvironment.require(.executable("/usr/bin/setpriv")) }
    let at = UnansweredAtEndTests()
    let first = try at.capture([.init(name: "split.example", id: 1, port: 40_000, at: 0)])
    let second = try at.capture([
      .init(name: "split.example", id: 1, port: 40_000, at: 1_000_000, answer: true),
      .init(name: at.listed, id: 2, port: 40_001, at: 2_000_000),
    ])
    defer { for path in [first, second] { try? FileManager.default.removeItem(atPath: path) } }

    let result = try run(["replay", "--events", "flows,net_packet_dns", first, second])
    #expect(result.status == 0, "\(result.stderr)")
    let objects = result.stdout.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    let lookups = objects.filter { $0["event"] as? String == "net_packet_dns" }.compactMap {
      $0["args"] as? [String: Any]
    }
    #expect(lookups.map { $0["questions"] as? [String] ?? [] } == [["split.example"], [at.listed]], "\(result.stdout)")
    #expect(lookups.map { $0["answered"] as? Bool } == [true, false])
    let alerts = objects.filter { $0["type"] as? String == "alert" }.compactMap {
      ($0["rule"] as? [String: Any])?["id"] as? String
    }
    #expect(alerts.contains("FS-INTEL-002"), "\(result.stdout)")
    #expect(result.stderr.contains("dns: answered 1, unanswered 1,"), "\(result.stderr)")
  }
}

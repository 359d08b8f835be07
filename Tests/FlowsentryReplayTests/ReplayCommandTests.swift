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

  /// A regex a PCRE2 limit stopped is counted per rule in the summary, as the monitor's
  /// regex_limit_hits; the pattern sets are built before the first record, timed, and with
  /// --pattern-cache loaded by the next run instead of compiled.
  @Test func limitHitsAreSummedPerRuleAndThePatternCacheIsReused() throws {
    if geteuid() == 0 { try TestEnvironment.require(.executable("/usr/bin/setpriv")) }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "fs-replay-limits-\(UUID().uuidString)")
    try FileManager.default.createDirectory(
      at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    defer { try? FileManager.default.removeItem(at: directory) }
    let rules = directory.appendingPathComponent("rules.yaml").path
    try """
    - rule:
        id: LIM-CATA
        name: catastrophic backtracking
        events: [net_flow_tcp_begin]
        condition: remote_dns matches '(a+)+$'
    - rule:
        id: LIM-PLAIN
        name: plain
        events: [net_flow_tcp_begin]
        condition: remote_dns matches 'evil\\.com$'

    """.write(toFile: rules, atomically: true, encoding: .utf8)
    let recording = directory.appendingPathComponent("limits.jsonl").path
    let name = String(repeating: "a", count: 40) + "!.example"
    let lines = (0..<2).map { index in
      "{\"schema_version\":1,\"event\":\"net_flow_tcp_begin\",\"time\":\"2026-12-07T10:00:0\(index).000000000Z\","
        + "\"timestamp_ns\":\(1_796_637_600_000_000_000 + index * 1_000_000_000),\"host\":\"h\",\"cgroup_id\":1,"
        + "\"socket_cookie\":\(11 + index),\"process\":{\"pid\":100,\"comm\":\"curl\",\"uid\":0},"
        + "\"args\":{\"conn_direction\":\"outgoing\",\"src\":\"10.0.0.5\",\"dst\":\"192.0.2.10\","
        + "\"src_port\":\(40_001 + index),\"dst_port\":443,\"community_id\":\"1:x\",\"src_dns\":[],"
        + "\"dst_dns\":[\"\(name)\"]}}"
    }
    try (lines.joined(separator: "\n") + "\n").write(toFile: recording, atomically: true, encoding: .utf8)
    // Made by the replay (as nobody, when run as root), under the world-writable temporary directory.
    let cache = FileManager.default.temporaryDirectory.appendingPathComponent("fs-replay-cache-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: cache) }
    let arguments = [
      "replay", "--no-default-rules", "--rules", rules, "--events", "none", "--pattern-cache", cache.path, recording,
    ]

    let first = try run(arguments)
    #expect(first.status == 0, "\(first.stderr)")
    #expect(first.stderr.contains("; regex limits hit 2 (LIM-CATA 2)\""), "\(first.stderr)")
    #expect(
      first.stderr.contains("replay: pattern sets of 2 regexes on 1 field ready in "), "\(first.stderr)")
    #expect(first.stderr.contains("; cache \(cache.path): 0 loaded, 1 compiled and stored\""), "\(first.stderr)")
    let second = try run(arguments)
    #expect(second.stderr.contains("; cache \(cache.path): 1 loaded, 0 compiled and stored\""), "\(second.stderr)")
    #expect(second.stderr.contains("; regex limits hit 2 (LIM-CATA 2)\""), "\(second.stderr)")
    // Without a cache, the line says how to keep one.
    let plain = try run(["replay", "--no-default-rules", "--rules", rules, "--events", "none", recording])
    #expect(plain.stderr.contains("compiled without a cache (--pattern-cache DIR"), "\(plain.stderr)")
  }
}

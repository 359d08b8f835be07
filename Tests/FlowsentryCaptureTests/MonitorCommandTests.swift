import FlowsentryCore
import FlowsentryTestSupport
import Foundation
import Testing

/// `flowsentry monitor` as an operator runs it: a real process, its stdout and stderr, signals, and
/// what `bpftool cgroup show` says is attached before and after.
@Suite(.serialized, .requires(.root, .cgroup2, .bpftool))
struct MonitorCommandTests {
  @Test func printsEventsAndDetachesOnSigterm() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let recording = FileManager.default.temporaryDirectory.appendingPathComponent("fs-rec-\(getpid()).jsonl").path
    defer { try? FileManager.default.removeItem(atPath: recording) }
    let monitor = try await MonitorProcess.attached(to: cgroup, ["--events", "flows", "--record", recording])
    defer { monitor.kill() }
    #expect(try attachedPrograms(cgroup.path).count == 3)

    let listener = try cgroup.listener(.v4)
    let client = try cgroup.socket(.v4)
    #expect(try client.connect(to: listener.localEndpoint) == 0)
    let accepted = try listener.accept()
    let clientEndpoint = client.localEndpoint
    client.close()
    accepted.readToEnd()
    accepted.close()

    let lines = try await monitor.stdoutLines(count: 4)
    let objects = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    #expect(objects.compactMap { $0["schema_version"] as? Int } == [1, 1, 1, 1])
    #expect(objects.filter { $0["event"] as? String == "net_flow_tcp_begin" }.count == 2)
    for object in objects {
      let args = try #require(object["args"] as? [String: Any])
      #expect(args["src"] as? String == "127.0.0.1")
      #expect(args["src_port"] as? Int == Int(clientEndpoint.port))
      #expect((object["process"] as? [String: Any])?["pid"] as? Int == Int(getpid()))
    }

    monitor.signal(SIGTERM)
    #expect(try await monitor.exitStatus() == 0)
    // stderr is not a terminal: log records are JSON lines, the last one the counter table.
    let records = monitor.logRecords()
    #expect(records.count == monitor.stderr.split(separator: "\n").count, "every line a JSON record: \(monitor.stderr)")
    let stopped = try #require(records.last { $0["message"] as? String == "stopped" }, "\(monitor.stderr)")
    #expect(stopped["level"] as? String == "info" && stopped["logger"] as? String == "flowsentry")
    // The build is said once, at the start, for logs read beside a fleet of versions; the counters
    // leave its metrics row out.
    let started = records.first { ($0["message"] as? String)?.hasPrefix("monitoring cgroup") == true }
    #expect(started?["version"] as? String == FlowsentryVersion.current, "\(monitor.stderr)")
    #expect(stopped["build_info"] == nil, "\(stopped)")
    #expect(stopped["drops"] as? [String: Int] == ["ring_buffer": 0, "queue": 0], "\(stopped)")
    #expect(stopped["ends_dropped"] as? [String: Int] == ["ring_buffer": 0, "queue": 0], "\(stopped)")
    #expect(
      stopped["events"] as? [String: Int] == [
        "net_flow_tcp_begin": 2, "net_flow_tcp_end": 2, "net_flow_tcp_update": 0, "net_packet_dns": 0,
      ])
    #expect(try attachedPrograms(cgroup.path).isEmpty)
    // The recording holds what stdout printed, and replay prints it again.
    let written = try #require(stopped["lines_written"] as? [String: [String: Int]], "\(stopped)")
    #expect(written["record"] == ["event": 4, "alert": 0] && written["stdout"] == ["event": 4, "alert": 0])
    #expect((stopped["lines_lost"] as? [String: [String: Int]])?["record"] == ["event": 0, "alert": 0])
    #expect(stopped["record_rotations"] as? Int == 0, "\(stopped)")
    let recorded = try String(contentsOfFile: recording, encoding: .utf8).split(separator: "\n").map(String.init)
    #expect(recorded == lines)
    let replay = try MonitorProcess(["replay", recording])
    #expect(try await replay.stdoutLines(count: 4) == lines, "\(replay.stderr)")
    #expect(try await replay.exitStatus() == 0)
  }

  @Test func killNineLeavesNothingAttached() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let monitor = try await MonitorProcess.attached(to: cgroup)
    #expect(try attachedPrograms(cgroup.path).count == 3)
    monitor.signal(SIGKILL)
    _ = try await monitor.exitStatus()
    // The bpf_links die with the process's file descriptors.
    let deadline = ContinuousClock.now + .seconds(5)
    while try !attachedPrograms(cgroup.path).isEmpty && ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(50))
    }
    #expect(try attachedPrograms(cgroup.path).isEmpty)
  }

  @Test(arguments: [
    (["monitor", "--cgroup", "/nonexistent-cgroup"], "cannot open cgroup /nonexistent-cgroup"),
    (["monitor", "--cgroup", "/tmp"], "/tmp is not a directory of a cgroup v2 hierarchy"),
    (["monitor", "--events", "flows,net_flow_udp"], "unknown event or set 'net_flow_udp'"),
    (["monitor", "--ring-buffer-bytes", "5000"], "--ring-buffer-bytes must be a power of two"),
  ])
  func refusesBadInputWithAClearMessage(arguments: [String], message: String) async throws {
    let monitor = try MonitorProcess(arguments)
    #expect(try await monitor.exitStatus() != 0)
    #expect(monitor.stderr.contains(message), "stderr was: \(monitor.stderr)")
  }

  @Test(.requires(.setpriv)) func refusesToRunWithoutPrivileges() async throws {
    let monitor = try MonitorProcess(
      ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", MonitorProcess.binary, "monitor"],
      executable: "/usr/bin/setpriv")
    #expect(try await monitor.exitStatus() == 1)
    #expect(monitor.stderr.contains("flowsentry needs root"), "stderr was: \(monitor.stderr)")
  }

  /// Root in a box that took capabilities away (a container, a hardened unit): the error names
  /// exactly the ones missing, before anything is loaded.
  @Test(
    .requires(.setpriv),
    arguments: [
      ("-net_admin", ["CAP_NET_ADMIN"]), ("-bpf,-sys_admin", ["CAP_BPF"]),
      ("-bpf,-perfmon,-sys_admin", ["CAP_BPF", "CAP_PERFMON"]),
    ])
  func namesTheCapabilitiesItLacks(dropped: String, named: [String]) async throws {
    let monitor = try MonitorProcess(
      ["--bounding-set=\(dropped)", "--inh-caps=-all", MonitorProcess.binary, "monitor"],
      executable: "/usr/bin/setpriv")
    #expect(try await monitor.exitStatus() == 1)
    #expect(
      monitor.stderr.contains("flowsentry lacks \(named.joined(separator: ", ")) ("), "stderr was: \(monitor.stderr)")
  }

  /// `/metrics` scraped while connections are made: the counters move, drops stay 0, and `status`
  /// reads them back for a person.
  @Test(.requires(.curl)) func servesMetricsThatMoveWithTheTrafficAndStatusReadsThem() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let monitor = try await MonitorProcess.attached(
      to: cgroup, ["--events", "none", "--metrics-address", "127.0.0.1:0", "--stats-interval", "1"])
    defer { monitor.kill() }
    // The endpoint is announced once it listens, just after the programs are attached.
    try await monitor.waitForStderr("metrics on http://", timeout: .seconds(5))
    let announced = try #require(
      monitor.stderr.split(separator: "\n").first { $0.contains("metrics on http://127.0.0.1:") })
    let address = try #require(announced.split(separator: "http://").last?.split(separator: "/").first)
    func scrape() throws -> MetricsLines {
      MetricsLines(try run("/usr/bin/curl", ["-sf", "http://\(address)/metrics"]))
    }
    let before = try scrape()
    #expect(before.value("flowsentry_events_total{event=\"net_flow_tcp_begin\"}") == 0)

    let listener = try cgroup.listener(.v4)
    for _ in 0..<5 {
      let client = try cgroup.socket(.v4)
      #expect(try client.connect(to: listener.localEndpoint) == 0)
      let accepted = try listener.accept()
      client.close()
      accepted.readToEnd()
      accepted.close()
    }
    var after = try scrape()
    let settled = ContinuousClock.now + .seconds(5)
    while after.value("flowsentry_events_total{event=\"net_flow_tcp_end\"}") ?? 0 < 10 && ContinuousClock.now < settled
    {
      try await Task.sleep(for: .milliseconds(100))
      after = try scrape()
    }
    // Both ends of each connection are watched: two begins and two ends per connection.
    #expect(after.value("flowsentry_events_total{event=\"net_flow_tcp_begin\"}") == 10)
    #expect(after.value("flowsentry_events_total{event=\"net_flow_tcp_end\"}") == 10)
    #expect(after.value("flowsentry_drops_total{where=\"ring_buffer\"}") == 0)
    #expect(after.value("flowsentry_drops_total{where=\"queue\"}") == 0)
    #expect((after.value("flowsentry_records_total") ?? 0) > (before.value("flowsentry_records_total") ?? 0))
    #expect((after.value("process_resident_memory_bytes") ?? 0) > 1_000_000)
    // Every rule has its rows from the start; the built-in rules are loaded.
    #expect(after.value("flowsentry_alerts_total{rule=\"FS-NET-001\"}") != nil)
    // docs/METRICS.md's table of what is counted (generated from the code) names every family served.
    let page = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/METRICS.md"), encoding: .utf8)
    let counted = try #require(page.components(separatedBy: "## What is counted").last)
    #expect(after.families.count > 40)
    for family in after.families {
      var short = Substring(family)
      if short.hasPrefix("flowsentry_") { short = short.dropFirst("flowsentry_".count) }
      if short.hasSuffix("_total") { short = short.dropLast("_total".count) }
      #expect(counted.contains("`\(short)"), "docs/METRICS.md does not explain \(family)")
    }

    // status prints the counter table read back, one family a line, as the exit record does.
    let status = try run(MonitorProcess.binary, ["status", "--metrics-address", String(address)])
    let lines = status.split(separator: "\n").map(String.init)
    #expect(
      lines.contains("events{net_flow_tcp_begin=10 net_flow_tcp_end=10 net_flow_tcp_update=0 net_packet_dns=0}"),
      "\(status)")
    #expect(lines.contains("drops{queue=0 ring_buffer=0}"), "\(status)")
    #expect(lines.contains { $0.hasPrefix("process_resident_memory_bytes=") }, "\(status)")
    // Its first line: the version, uptime, the rules' age and whether a reload was refused, from the
    // metrics.
    let now = Double(time(nil))
    #expect(((now - 600)...(now + 1)).contains(after.value("process_start_time_seconds") ?? 0))
    #expect(((now - 600)...(now + 1)).contains(after.value("flowsentry_rules_loaded_timestamp_seconds") ?? 0))
    #expect(lines.first?.hasPrefix("flowsentry \(FlowsentryVersion.current) at \(address): up ") == true, "\(status)")
    #expect(!lines.contains { $0.hasPrefix("build_info") }, "the headline says the version: \(status)")
    // Prometheus' info row: the build in its labels, 1.
    #expect(
      after.value("flowsentry_build_info{version=\"\(FlowsentryVersion.current)\",event_schema=\"1\"}") == 1,
      "\(after.values.keys.filter { $0.hasPrefix("flowsentry_build") })")
    #expect(
      lines.first?.contains("; rules loaded ") == true && lines.first?.hasSuffix(" ago; no reload refused") == true,
      "\(status)")
    // --stats-interval logs the same table: a periodic record catches up with the traffic.
    let logged = ContinuousClock.now + .seconds(5)
    func periodic() -> [String: Any]? {
      monitor.logRecords().last { $0["message"] as? String == "counters" }
    }
    while (periodic()?["events"] as? [String: Int])?["net_flow_tcp_end"] != 10 && ContinuousClock.now < logged {
      try await Task.sleep(for: .milliseconds(100))
    }
    #expect(
      periodic()?["events"] as? [String: Int] == [
        "net_flow_tcp_begin": 10, "net_flow_tcp_end": 10, "net_flow_tcp_update": 0, "net_packet_dns": 0,
      ],
      "\(monitor.stderr)")
    #expect(periodic()?["drops"] as? [String: Int] == ["ring_buffer": 0, "queue": 0])
    monitor.signal(SIGTERM)
    #expect(try await monitor.exitStatus() == 0)
  }

  /// Program ids that `bpftool cgroup show` lists for a cgroup.
  func attachedPrograms(_ path: String) throws -> [String] {
    let output = try run("/usr/sbin/bpftool", ["cgroup", "show", path])
    return output.split(separator: "\n").dropFirst().compactMap { $0.split(separator: " ").first.map(String.init) }
  }
}

import FlowsentryTestSupport
import Foundation
import Testing

/// Behaviour rules on a real monitor: clients in the test cgroup call a test host in a network
/// namespace (198.51.100.0/24, outside the shipped home_networks).
@Suite(.serialized, .requires(.root, .cgroup2, .ip, .python3), .testHostsInTurn)
struct BehaviourLiveTests {
  /// Each suite's own /30, so that its route is not another suite's.
  static let beaconHost = TestHost.Addressing(local: "198.51.100.213", peer: "198.51.100.214", prefixLength: 30)
  static let firstSeenHost = TestHost.Addressing(local: "198.51.100.217", peer: "198.51.100.218", prefixLength: 30)

  /// On the test host: a request `N\n` is answered with N bytes, then the connection closes.
  static func sizedAnswerServer(_ address: String, ports: Int = 1) -> String {
    """
    import socket, threading
    def serve(l):
        while True:
            c, _ = l.accept()
            threading.Thread(target=answer, args=(c,), daemon=True).start()
    def answer(c):
        request = b""
        while not request.endswith(b"\\n"):
            data = c.recv(64)
            if not data: break
            request += data
        try: c.sendall(b"a" * int(request or b"0"))
        except Exception: pass
        c.close()
    listeners = []
    for _ in range(\(ports)):
        l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        l.bind(("\(address)", 0)); l.listen(64); listeners.append(l)
        threading.Thread(target=serve, args=(l,), daemon=True).start()
    print(" ".join(str(l.getsockname()[1]) for l in listeners), flush=True)
    threading.Event().wait()
    """
  }

  /// A Python client named `comm` (PR_SET_NAME, so that rules grouping by process.comm tell the
  /// clients apart) that fetches `size` bytes from the server at each of the `starts` (seconds).
  static func client(_ comm: String, _ address: String, _ port: UInt16, starts: [Double], size: Int) -> String {
    """
    import ctypes, socket, time
    ctypes.CDLL(None).prctl(15, b"\(comm)", 0, 0, 0)
    begin = time.monotonic()
    for start in [\(starts.map { String(format: "%.3f", $0) }.joined(separator: ","))]:
        time.sleep(max(0, begin + start - time.monotonic()))
        s = socket.create_connection(("\(address)", \(port)))
        s.sendall(b"\(size)\\n")
        while s.recv(65536): pass
        s.close()
    """
  }

  /// xorshift64*, seeded: the same jitter and the same random intervals at each run.
  struct Generator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
      state ^= state >> 12
      state ^= state << 25
      state ^= state >> 27
      return state &* 0x2545_F491_4F6C_DD1D
    }
  }

  /// FS-BEH-002 as shipped: a call every 2 s ± 20% is alerted within 15 connections; random
  /// (exponential) intervals, browser-like bursts and downloads, running alongside, are not.
  @Test func aJitteredTwoSecondBeaconIsAlertedAndRandomBurstyAndDownloadTrafficIsNot() async throws {
    let host = try TestHost(Self.beaconHost)
    defer { host.remove() }
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let server = try host.runPython(Self.sizedAnswerServer(Self.beaconHost.peer))
    let port = try #require(UInt16(try server.firstLine()))
    let monitor = try await MonitorProcess.attached(to: cgroup, ["--events", "none"])
    defer { monitor.kill() }

    var random = Generator(state: 0x5EED_2026_1206)
    var time = 0.0
    // 15 connections 2 s ± 20% apart: the beacon.
    let beacon = (0..<15).map { index -> Double in
      if index > 0 { time += 2 * Double.random(in: 0.8...1.2, using: &random) }
      return time
    }
    // 20 connections at exponential intervals averaging 1.5 s.
    time = 0
    let exponential = (0..<20).map { _ -> Double in
      time += -1.5 * log(Double.random(in: Double.ulpOfOne..<1, using: &random))
      return time
    }
    // Three page loads, 12 s apart, of 20 connections within half a second each.
    let burst = (0..<3).flatMap { page in (0..<20).map { Double(page) * 12 + Double($0) * 0.025 } }
    let clients = [
      Self.client("fsbeacon", Self.beaconHost.peer, port, starts: beacon, size: 700),
      Self.client("fsrandom", Self.beaconHost.peer, port, starts: exponential, size: 700),
      Self.client("fsbrowser", Self.beaconHost.peer, port, starts: burst, size: 30_000),
      Self.client("fsdownload", Self.beaconHost.peer, port, starts: [0, 9, 23], size: 8 << 20),
    ]
    // All four at once, each a process of its own in the test cgroup.
    let runner = """
      import subprocess, sys
      scripts = sys.argv[1:]
      children = [subprocess.Popen([sys.executable, "-c", script]) for script in scripts]
      sys.exit(max(child.wait() for child in children))
      """
    try cgroup.run("/usr/bin/python3", ["-c", runner] + clients)

    let alerts = try await monitor.alerts(including: ["FS-BEH-002"])
    try await Task.sleep(for: .seconds(2))  // ends still on their way
    let beaconing = try monitor.alerts().filter { ($0["rule"] as? [String: Any])?["id"] as? String == "FS-BEH-002" }
    let groups = beaconing.compactMap { $0["group"] as? [String: Any] }
    #expect(groups.compactMap { $0["process.comm"] as? String } == ["fsbeacon"], "\(beaconing)")
    #expect(groups.first?["remote"] as? String == Self.beaconHost.peer)
    let count = try #require(beaconing.first?["count"] as? Int, "\(alerts)")
    #expect((12...15).contains(count), "alerted at connection \(count)")
    let measurements = try #require(beaconing.first?["measurements"] as? [String: Any], "\(beaconing)")
    let period = try #require(measurements["period_ms"] as? Double)
    #expect((1_600...2_400).contains(period), "\(measurements)")
    monitor.signal(SIGTERM)
    #expect(try await monitor.exitStatus() == 0)
  }

  /// A first-seen rule learns a process's remote ports, the monitor restarts (its state in a
  /// temporary state_dir), then a learned port is quiet and a new one alerts.
  @Test func firstSeenStateSurvivesAMonitorRestart() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-first-seen-\(UUID())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try "state_dir: \(directory)/state\n".write(
      toFile: directory + "/flowsentry.yaml", atomically: true, encoding: .utf8)
    try """
    - rule:
        id: LIVE-FIRST-SEEN
        name: new remote port
        events: [net_flow_tcp_begin]
        condition: conn_direction == outgoing
        first_seen: {field: remote_port, group_by: [process.comm], learning: 1s}
        output: "{process.comm} connected to a new port {remote_port}"
    """.write(toFile: directory + "/rules.yaml", atomically: true, encoding: .utf8)
    let arguments = [
      "--events", "none", "--config", directory + "/flowsentry.yaml", "--no-default-rules", "--rules",
      directory + "/rules.yaml",
    ]
    let host = try TestHost(Self.firstSeenHost)
    defer { host.remove() }
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let server = try host.runPython(Self.sizedAnswerServer(Self.firstSeenHost.peer, ports: 3))
    let ports = try server.firstLine().split(separator: " ").compactMap { UInt16($0) }
    try #require(ports.count == 3)
    func connect(_ ports: [UInt16]) throws {
      for port in ports {
        try cgroup.run(
          "/usr/bin/python3", ["-c", Self.client("fslearner", Self.firstSeenHost.peer, port, starts: [0], size: 10)])
      }
    }

    let learning = try await MonitorProcess.attached(to: cgroup, arguments)
    defer { learning.kill() }
    try connect([ports[0], ports[1]])
    try await Task.sleep(for: .seconds(1))
    learning.signal(SIGTERM)
    #expect(try await learning.exitStatus() == 0)
    #expect(try learning.alerts().isEmpty, "learning: \(learning.stdoutSoFar)")
    let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/state/first-seen")
    #expect(files.count == 1 && files[0].hasPrefix("LIVE-FIRST-SEEN-"), "\(files)")
    try await Task.sleep(for: .seconds(1))  // past the group's learning period

    let restarted = try await MonitorProcess.attached(to: cgroup, arguments)
    defer { restarted.kill() }
    try connect([ports[0], ports[2], ports[1]])
    let alerts = try await restarted.alerts(including: ["LIVE-FIRST-SEEN"])
    try await Task.sleep(for: .seconds(1))
    let raised = try restarted.alerts()
    #expect(raised.count == 1, "\(alerts)")
    #expect(raised.first?["message"] as? String == "fslearner connected to a new port \(ports[2])", "\(raised)")
    restarted.signal(SIGTERM)
    #expect(try await restarted.exitStatus() == 0)
  }
}

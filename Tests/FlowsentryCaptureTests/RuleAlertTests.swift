import FlowsentryCore
import FlowsentryTestSupport
import Foundation
import Testing

/// The shipped rules, live: `flowsentry monitor` with no rule options (the built-in rules) on a test
/// cgroup, with a remote peer in a network namespace and a local dnsmasq. Alerts are read from the
/// monitor's stdout.
@Suite(.serialized, .requires(.root, .cgroup2), .testHostsInTurn)
struct RuleAlertTests {
  static let shippedRules = FlowsentryTestSupport.shippedRules

  @Test(.requires(.ip, .python3, .dnsmasq, .dig)) func suspiciousTrafficRaisesAlertsAndOrdinaryTrafficDoesNot()
    async throws
  {
    // The peer serves port 443, accepting and closing.
    let peer = try ResolvingPeer(records: ["--address=/c2.trycloudflare.com/\(TestHost.peerAddress)"], backlog: 128)
    defer { peer.remove() }
    let (host, cgroup, resolver, dnsPort) = (peer.host, peer.cgroup, peer.resolver, peer.dnsPort)

    let monitor = try await MonitorProcess.attached(to: cgroup, ["--events", "none", "--dns-ports", String(dnsPort)])
    defer { monitor.kill() }

    // Ordinary traffic: 300 loopback connections and 60 to the peer's web port, all closed with FIN.
    let listener = try cgroup.listener(.v4)
    for _ in 0..<300 { try listener.acceptOneConnection(from: cgroup) }
    let web = Endpoint(IPAddress(TestHost.peerAddress)!, 443)
    for _ in 0..<60 {
      let client = try cgroup.socket(.v4)
      #expect(try client.connect(to: web) == 0)
      client.readToEnd()
      client.close()
    }
    try await Task.sleep(for: .seconds(1))
    let quiet = try monitor.alerts()
    #expect(quiet.isEmpty, "ordinary traffic raised: \(quiet.map { $0["rule"] ?? "" })")

    // A burst of refused connections to the peer: an RST storm.
    let closed = Endpoint(IPAddress(TestHost.peerAddress)!, 9)
    for _ in 0..<40 {
      let client = try cgroup.socket(.v4)
      #expect(try client.connect(to: closed) == ECONNREFUSED)
      client.close()
    }
    // The peer connects to a port of ours outside the allow list.
    let service = try cgroup.listener(.v4, on: TestHost.localAddress)
    let peerClient = try host.runPython(
      "import socket; s = socket.create_connection((\"\(TestHost.localAddress)\", \(service.localEndpoint.port))); s.close()"
    )
    let inbound = try service.accept()
    inbound.readToEnd()
    inbound.close()
    _ = try peerClient.finish()
    // A name of a tunnelling service, resolved by a real client, then connected to.
    try cgroup.run("/usr/bin/dig", ["+short", "@\(resolver.address)", "-p", String(dnsPort), "c2.trycloudflare.com"])
    let tunnel = try cgroup.socket(.v4)
    #expect(try tunnel.connect(to: web) == 0)
    tunnel.readToEnd()
    tunnel.close()

    let alerts = try await monitor.alerts(including: ["FS-NET-001", "FS-NET-003", "FS-DNS-002"])
    let byRule = Dictionary(grouping: alerts) { ($0["rule"] as? [String: Any])?["id"] as? String ?? "" }
    #expect(Set(byRule.keys) == ["FS-NET-001", "FS-NET-003", "FS-DNS-002"], "alerts: \(byRule.keys.sorted())")

    let storm = try #require(byRule["FS-NET-001"]?.first)
    let stormEvents = try #require(storm["events"] as? [[String: Any]])
    #expect(stormEvents.count >= 20)
    #expect(stormEvents.allSatisfy { ($0["args"] as? [String: Any])?["close_reason"] as? String == "refused" })
    let inboundEvents = try #require(byRule["FS-NET-003"]?.first?["events"] as? [[String: Any]])
    #expect((inboundEvents.first?["args"] as? [String: Any])?["dst_port"] as? Int == Int(service.localEndpoint.port))
    let tunnelEvents = try #require(byRule["FS-DNS-002"]?.first?["events"] as? [[String: Any]])
    #expect((tunnelEvents.first?["args"] as? [String: Any])?["dst_dns"] as? [String] == ["c2.trycloudflare.com"])
    monitor.signal(SIGTERM)
    #expect(try await monitor.exitStatus() == 0)
  }

  @Test func brokenRulesStopTheMonitorBeforeItAttaches() async throws {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("fs-broken-\(getpid()).yaml")
    try "- rule:\n    id: X\n    name: x\n    condition: dst_port == 'ssh'\n".write(
      to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let monitor = try MonitorProcess(["monitor", "--cgroup", "/nonexistent", "--rules", file.path])
    #expect(try await monitor.exitStatus() == 1)
    #expect(monitor.stderr.contains("\(file.path):4:28: error: 'dst_port' is an integer"), "\(monitor.stderr)")
    #expect(monitor.stderr.contains("not starting"))
  }
}

@Suite(.serialized, .requires(.root, .cgroup2))
struct RuleReloadTests {
  @Test func sighupSwapsValidRulesAndKeepsTheOldOnesOtherwise() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-reload-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let file = directory.appendingPathComponent("rules.yaml")
    func write(_ port: String) throws {
      try """
      - rule:
          id: RELOAD
          name: connection to the test port
          events: [net_flow_tcp_begin]
          condition: conn_direction == outgoing and dst_port == \(port)
      """.write(to: file, atomically: true, encoding: .utf8)
    }
    try write("1")
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let monitor = try await MonitorProcess.attached(to: cgroup, ["--no-default-rules", "--rules", directory.path])
    defer { monitor.kill() }

    let listener = try cgroup.listener(.v4)
    let port = listener.localEndpoint.port

    // A broken file: the monitor says why and keeps the rules it has.
    try write("'not a port'")
    monitor.signal(SIGHUP)
    try await monitor.waitForStderr("keeping the current ones")
    #expect(monitor.stderr.contains("rules.yaml:5:"))
    try listener.acceptOneConnection(from: cgroup)
    try await Task.sleep(for: .milliseconds(500))
    #expect(try monitor.alerts().isEmpty)

    // A valid file that matches the test's port: swapped in, and it fires.
    try write(String(port))
    monitor.signal(SIGHUP)
    try await monitor.waitForStderr("rules reloaded")
    try listener.acceptOneConnection(from: cgroup)
    let alerts = try await monitor.alerts(including: ["RELOAD"])
    #expect(alerts.count == 1)
    // Each reload said it started before it said how it ended, as an info record of its own.
    let start = "reloading rules (SIGHUP)"
    #expect(
      monitor.stderrOrder([start, "keeping the current ones", "rules reloaded (SIGHUP)"]) == [
        start, "keeping the current ones", start, "rules reloaded (SIGHUP)",
      ], "\(monitor.stderr)")
    let starts = monitor.logRecords().filter { ($0["message"] as? String)?.hasPrefix(start) == true }
    #expect(starts.count == 2 && starts.allSatisfy { $0["level"] as? String == "info" }, "\(starts)")
    monitor.signal(SIGTERM)
    #expect(try await monitor.exitStatus() == 0)
  }
}

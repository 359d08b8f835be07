import FlowsentryCore
import FlowsentryTestSupport
import Foundation
import Testing

/// FS-INTEL-002 live: a feed file of the operator's replaces the shipped domain list, dnsmasq answers
/// names under a listed domain, and a process in the test cgroup looks them up (and connects).
/// FS-INTEL-001 live: an attempt at a listed address that the peer refuses. Both live: a lookup
/// answered with a listed address, or through an alias under a listed domain.
@Suite(.serialized, .requires(.root, .cgroup2), .testHostsInTurn)
struct IntelAlertTests {
  /// A directory of its own with a feed file (a comment line, then `indicators`) and a rule file
  /// whose one list, `list`, replaces the shipped one of that name.
  static func feedAndRules(_ name: String, _ indicators: String, list: String) throws -> (
    directory: String, feed: String, rules: String
  ) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-intel-live-\(UUID())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let feed = directory + "/" + name
    try "# test feed\n\(indicators)\n".write(toFile: feed, atomically: true, encoding: .utf8)
    let rules = directory + "/intel.yaml"
    try "- list: \(list)\n".write(toFile: rules, atomically: true, encoding: .utf8)
    return (directory, feed, rules)
  }

  @Test(.requires(.ip, .python3, .dnsmasq, .dig)) func aListedDomainLookedUpAndConnectedToRaisesOneAlertNamingIt()
    async throws
  {
    let (directory, feed, rules) = try Self.feedAndRules(
      "feed.domains.txt", "evil-feed.test\nlookup-only.test",
      list: "{name: intel_domains, type: domain, match: suffix, files: [feed.domains.txt]}")
    defer { try? FileManager.default.removeItem(atPath: directory) }

    let peer = try ResolvingPeer(records: [
      "--address=/c2.evil-feed.test/\(TestHost.peerAddress)", "--address=/x.lookup-only.test/\(TestHost.peerAddress)",
    ])
    defer { peer.remove() }
    let monitor = try await MonitorProcess.attached(
      to: peer.cgroup, ["--events", "none", "--dns-ports", String(peer.dnsPort), "--rules", rules])
    defer { monitor.kill() }

    try peer.lookUp("c2.evil-feed.test")
    let connected = try peer.connectToPeer()
    #expect(connected == 0, "connect: \(String(cString: strerror(connected)))")
    // A lookup that no connection follows.
    try peer.lookUp("x.lookup-only.test")

    _ = try await monitor.alerts(including: ["FS-INTEL-002"])
    try await Task.sleep(for: .seconds(1))
    let alerts = try monitor.alerts().filter { ($0["rule"] as? [String: Any])?["id"] as? String == "FS-INTEL-002" }
    let indicators = alerts.compactMap { $0["indicator"] as? [String: String] }
    #expect(indicators.map { $0["value"] } == ["evil-feed.test", "lookup-only.test"], "\(alerts)")
    #expect(indicators.first?["list"] == "intel_domains")
    #expect(indicators.first?["source"] == "\(feed):2")
    #expect(indicators.last?["source"] == "\(feed):3")
    // The lookup raised the first alert; the connection to the same indicator was folded into it.
    let events = try #require(alerts.first?["events"] as? [[String: Any]])
    #expect(events.first?["event"] as? String == "net_packet_dns")
    monitor.signal(SIGTERM)
    #expect(try await monitor.exitStatus() == 0)
  }

  /// What a lookup's answer names is tested too: an address answer that an address feed lists
  /// raises FS-INTEL-001 at the lookup (the connection after it folds into that alert), and an
  /// alias (CNAME) under a listed domain raises FS-INTEL-002, though the name asked is not listed.
  @Test(.requires(.ip, .python3, .dnsmasq, .dig)) func aLookupAnsweredWithAListedAddressOrAliasRaisesAnAlert()
    async throws
  {
    let (directory, addressFeed, _) = try Self.feedAndRules(
      "feed.ip.txt", TestHost.peerAddress, list: "{name: intel_addresses, type: address, files: [feed.ip.txt]}")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let domainFeed = directory + "/feed.domains.txt"
    try "# test feed\nalias-feed.test\n".write(toFile: domainFeed, atomically: true, encoding: .utf8)
    try "- list: {name: intel_domains, type: domain, match: suffix, files: [feed.domains.txt]}\n"
      .write(toFile: directory + "/intel-domains.yaml", atomically: true, encoding: .utf8)

    let peer = try ResolvingPeer(records: [
      "--address=/resolves-listed.test/\(TestHost.peerAddress)",
      "--host-record=c2.alias-feed.test,\(TestHost.peerAddress)", "--cname=innocent-alias.test,c2.alias-feed.test",
    ])
    defer { peer.remove() }
    let monitor = try await MonitorProcess.attached(
      to: peer.cgroup, ["--events", "none", "--dns-ports", String(peer.dnsPort), "--rules", directory])
    defer { monitor.kill() }

    try peer.lookUp("resolves-listed.test")
    let connected = try peer.connectToPeer()
    #expect(connected == 0, "connect: \(String(cString: strerror(connected)))")
    try peer.lookUp("innocent-alias.test")

    _ = try await monitor.alerts(including: ["FS-INTEL-001", "FS-INTEL-002"])
    try await Task.sleep(for: .seconds(1))
    func alerts(_ rule: String) throws -> [[String: Any]] {
      try monitor.alerts().filter { ($0["rule"] as? [String: Any])?["id"] as? String == rule }
    }
    let byAddress = try alerts("FS-INTEL-001")
    #expect(byAddress.count == 1, "the lookup, its connection and the alias' address are one indicator: \(byAddress)")
    let addressIndicator = try #require(byAddress.first?["indicator"] as? [String: String])
    #expect(addressIndicator["value"] == "\(TestHost.peerAddress)/32")
    #expect(addressIndicator["source"] == "\(addressFeed):2")
    let lookup = try #require((byAddress.first?["events"] as? [[String: Any]])?.first)
    #expect(lookup["event"] as? String == "net_packet_dns", "raised at the lookup, before the connection")
    #expect((lookup["args"] as? [String: Any])?["questions"] as? [String] == ["resolves-listed.test"])

    let byAlias = try alerts("FS-INTEL-002")
    #expect(byAlias.count == 1, "\(byAlias)")
    let aliasIndicator = try #require(byAlias.first?["indicator"] as? [String: String])
    #expect(aliasIndicator["value"] == "alias-feed.test")
    #expect(aliasIndicator["list"] == "intel_domains")
    #expect(aliasIndicator["source"] == "\(domainFeed):2")
    let aliasLookup = try #require((byAlias.first?["events"] as? [[String: Any]])?.first)
    #expect((aliasLookup["args"] as? [String: Any])?["questions"] as? [String] == ["innocent-alias.test"])
    monitor.signal(SIGTERM)
    #expect(try await monitor.exitStatus() == 0)
  }

  /// A lookup a DNS firewall drops (the server reads it and never answers) raises FS-INTEL-002 once
  /// `dns.question_timeout` passes, with the monitor's clock moved on by the capture's ticks: after
  /// the question, the cgroup does nothing more.
  @Test(.requires(.ip, .python3)) func aLookupNobodyAnswersRaisesAnAlertWhenItsTimeoutPasses() async throws {
    let (directory, _, rules) = try Self.feedAndRules(
      "feed.domains.txt", "dropped-feed.test",
      list: "{name: intel_domains, type: domain, match: suffix, files: [feed.domains.txt]}")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let configuration = directory + "/config.yaml"
    try "dns: {question_timeout: 2}\n".write(toFile: configuration, atomically: true, encoding: .utf8)

    let dnsPort = UInt16.random(in: 20_000...40_000)
    let peer = try ServingPeer.silentResolver(port: dnsPort)
    defer { peer.remove() }
    let monitor = try await MonitorProcess.attached(
      to: peer.cgroup,
      ["--config", configuration, "--events", "none", "--dns-ports", String(dnsPort), "--rules", rules])
    defer { monitor.kill() }

    let asked = ContinuousClock.now
    try peer.ask("c2.dropped-feed.test", port: dnsPort)

    let alerts = try await monitor.alerts(including: ["FS-INTEL-002"])
      .filter { ($0["rule"] as? [String: Any])?["id"] as? String == "FS-INTEL-002" }
    #expect(ContinuousClock.now - asked >= .seconds(2), "not before the timeout")
    #expect(alerts.count == 1, "\(alerts)")
    #expect((alerts.first?["indicator"] as? [String: String])?["value"] == "dropped-feed.test")
    let event = try #require((alerts.first?["events"] as? [[String: Any]])?.first)
    #expect(event["event"] as? String == "net_packet_dns")
    let args = try #require(event["args"] as? [String: Any])
    #expect(args["answered"] as? Bool == false)
    #expect(args["questions"] as? [String] == ["c2.dropped-feed.test"])
    #expect(args["src"] as? String == TestHost.peerAddress, "as the answer would have come")
    monitor.signal(SIGTERM)
    #expect(try await monitor.exitStatus() == 0)
  }

  /// A lookup still waiting for its answer when the monitor stops is reported on the way out
  /// (`answered: false`, dated at the stop), its alert with it, and the stop stays quick: without
  /// it, a lookup of a listed name just before a restart would leave no trace.
  @Test(.requires(.ip, .python3)) func aLookupStillWaitingWhenTheMonitorStopsIsReportedOnTheWayOut() async throws {
    let (directory, _, rules) = try Self.feedAndRules(
      "feed.domains.txt", "stopped-feed.test",
      list: "{name: intel_domains, type: domain, match: suffix, files: [feed.domains.txt]}")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let dnsPort = UInt16.random(in: 20_000...40_000)
    let peer = try ServingPeer.silentResolver(port: dnsPort)
    defer { peer.remove() }
    let monitor = try await MonitorProcess.attached(
      to: peer.cgroup, ["--events", "net_packet_dns", "--dns-ports", String(dnsPort), "--rules", rules])
    defer { monitor.kill() }

    try peer.ask("c2.stopped-feed.test", port: dnsPort)
    // Well within the 30 s timeout: only the stop can report it.
    try await Task.sleep(for: .milliseconds(500))
    #expect(try monitor.alerts().isEmpty)
    let stopping = ContinuousClock.now
    monitor.signal(SIGTERM)
    #expect(try await monitor.exitStatus() == 0)
    #expect(ContinuousClock.now - stopping < .seconds(5), "the stop waits for no answer")

    let alerts = try monitor.alerts().filter { ($0["rule"] as? [String: Any])?["id"] as? String == "FS-INTEL-002" }
    #expect(alerts.count == 1, "\(monitor.stdoutSoFar)")
    #expect((alerts.first?["indicator"] as? [String: String])?["value"] == "stopped-feed.test")
    let events = monitor.stdoutSoFar.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }.filter { $0["event"] as? String == "net_packet_dns" }
    #expect(events.count == 1, "\(monitor.stdoutSoFar)")
    let args = try #require(events.first?["args"] as? [String: Any])
    #expect(args["answered"] as? Bool == false)
    #expect(args["questions"] as? [String] == ["c2.stopped-feed.test"])
  }

  /// A listed server that is down still shows the host trying: the refused attempt (an end with no
  /// begin) raises FS-INTEL-001 naming the feed line.
  @Test(.requires(.ip, .python3)) func aRefusedAttemptAtAListedAddressRaisesAnAlertNamingIt() async throws {
    let (directory, feed, rules) = try Self.feedAndRules(
      "feed.ip.txt", TestHost.peerAddress, list: "{name: intel_addresses, type: address, files: [feed.ip.txt]}")
    defer { try? FileManager.default.removeItem(atPath: directory) }

    let peer = try ServingPeer()
    defer { peer.remove() }
    let monitor = try await MonitorProcess.attached(to: peer.cgroup, ["--events", "none", "--rules", rules])
    defer { monitor.kill() }

    let client = try peer.cgroup.socket(.v4)
    #expect(try client.connect(to: Endpoint(IPAddress(TestHost.peerAddress)!, 9)) == ECONNREFUSED)
    client.close()

    let alerts = try await monitor.alerts(including: ["FS-INTEL-001"])
      .filter { ($0["rule"] as? [String: Any])?["id"] as? String == "FS-INTEL-001" }
    #expect(alerts.count == 1, "\(alerts)")
    let indicator = try #require(alerts.first?["indicator"] as? [String: String])
    #expect(indicator["value"] == "\(TestHost.peerAddress)/32")
    #expect(indicator["list"] == "intel_addresses")
    #expect(indicator["source"] == "\(feed):2")
    let events = try #require(alerts.first?["events"] as? [[String: Any]])
    #expect(events.first?["event"] as? String == "net_flow_tcp_end")
    #expect((events.first?["args"] as? [String: Any])?["close_reason"] as? String == "refused")
    monitor.signal(SIGTERM)
    #expect(try await monitor.exitStatus() == 0)
  }
}

import FlowsentryCore
import FlowsentryNATS
import FlowsentryOutput
import FlowsentryTestSupport
import Foundation
import Testing

/// 50 sensors (recordings replayed as 50 hosts) publish their flow events through the server's
/// partition mapping; two `aggregate` instances share four partitions; one remote scans 30 hosts.
@Suite(.serialized, .requires(.natsServer)) struct FleetSimulationTests {
  static let scanner = "198.51.100.66"
  static let mapping = """
    mappings = {
      "fleet.ev.*.*": "fleet.part.{{partition(4,1)}}.{{wildcard(1)}}.{{wildcard(2)}}"
    }
    """
  static let start: Int64 = 1_780_000_000

  /// Host `index` (203.0.113.(index+1)) accepts one connection from a remote of its own and, for
  /// the first 30, one from the scanner: each at its own time, all within a few seconds.
  static func recording(host index: Int, to path: String) throws {
    var pcap = PcapWriter(linkType: 1)
    let server = IPAddress("203.0.113.\(index + 1)")!
    var clients = [
      (IPAddress("198.51.100.\(100 + index)")!, start * 1_000_000_000 + 5_000_000_000 + Int64(index) * 10_000_000)
    ]
    if index < 30 { clients.append((IPAddress(scanner)!, start * 1_000_000_000 + Int64(index) * 100_000_000)) }
    for (client, time) in clients {
      let syn = Frames.tcp(40_000, 22, flags: .syn, sequence: 100)
      let synAck = Frames.tcp(22, 40_000, flags: [.syn, .ack], sequence: 500, ack: 101)
      let ack = Frames.tcp(40_000, 22, flags: .ack, sequence: 101, ack: 501)
      pcap.add(Frames.ethernet(Frames.ipv4(client, server, protocolNumber: 6, syn)), at: time)
      pcap.add(Frames.ethernet(Frames.ipv4(server, client, protocolNumber: 6, synAck)), at: time + 100_000)
      pcap.add(Frames.ethernet(Frames.ipv4(client, server, protocolNumber: 6, ack)), at: time + 200_000)
    }
    try pcap.write(to: path)
  }

  final class Fleet {
    let server: NATSServer
    let directory: URL
    let publisher: JetStreamPublisher
    var aggregates: [SensorRun?] = [nil, nil]

    init() throws {
      var settings = NATSServer.Settings()
      settings.extra = FleetSimulationTests.mapping
      server = try NATSServer(settings)
      directory = server.directory.appendingPathComponent("fleet")
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      publisher = try JetStreamPublisher(connection: NATSConnection(NATSConnectionOptions(servers: [server.url])))
      try publisher.addStream(JetStreamStreamSettings(name: "FLEET_EVENTS", subjects: ["fleet.part.>"]))
      var alerts = JetStreamStreamSettings(name: "FLEET_ALERTS", subjects: ["fleet.alerts.>"])
      alerts.duplicateWindowNanoseconds = 600_000_000_000
      try publisher.addStream(alerts)
    }

    deinit {
      for run in aggregates { run?.kill() }
    }

    /// Replays hosts in parallel batches, each as its own sensor publishing its flow events.
    func publish(hosts: [Int]) throws {
      for batch in stride(from: 0, to: hosts.count, by: 10).map({ Array(hosts[$0..<min($0 + 10, hosts.count)]) }) {
        let runs = try batch.map { index in
          let file = directory.appendingPathComponent("host-\(index).pcap").path
          try FleetSimulationTests.recording(host: index, to: file)
          return try SensorRun([
            "replay", "--no-default-rules", "--host", "host-\(index)", "--local", "203.0.113.0/24",
            "--output", "nats://127.0.0.1:\(server.port)?subject=fleet.ev.{remote}.{host}&events=flows",
            "--spool-dir", directory.appendingPathComponent("spool-\(index)").path, file,
          ])
        }
        for run in runs {
          run.wait(timeout: .seconds(60))
          #expect(run.status == 0, "\(run.errors)")
        }
      }
    }

    func startAggregate(_ instance: Int) throws {
      aggregates[instance] = try SensorRun([
        "aggregate", "--instance", "\(instance)", "--instances", "2",
        "--input",
        "nats://127.0.0.1:\(server.port)?stream=FLEET_EVENTS&consumer=agg&partitions=4"
          + "&subject=fleet.part.{partition}.>&ack_wait_ms=3000",
        "--output", "nats://127.0.0.1:\(server.port)?subject=fleet.alerts.{rule}",
        "--spool-dir", directory.appendingPathComponent("aggregate-\(instance)").path,
      ])
    }

    func fleetAlerts() throws -> [[String: Any]] {
      try publisher.messages(stream: "FLEET_ALERTS").compactMap {
        try JSONSerialization.jsonObject(with: Data($0.data)) as? [String: Any]
      }
    }

    /// The partition whose subjects carry `remote`'s events (`fleet.part.P.REMOTE.HOST`).
    func partitions(of remote: String) throws -> Set<Int> {
      let token = remote.replacingOccurrences(of: ".", with: "%2E")
      return Set(
        try publisher.messages(stream: "FLEET_EVENTS").compactMap { message -> Int? in
          let tokens = message.subject.split(separator: ".")
          return tokens.count == 5 && tokens[3] == token ? Int(tokens[2]) : nil
        })
    }
  }

  @Test(.timeLimit(.minutes(3))) func aScanOfThirtyHostsRaisesOneAlertThroughCrashes() throws {
    let fleet = try Fleet()
    try fleet.startAggregate(0)
    try fleet.startAggregate(1)
    // Hosts 20–49 first: ten of the scanned hosts and every unscanned one.
    try fleet.publish(hosts: Array(20..<50))
    #expect(try fleet.publisher.streamState("FLEET_EVENTS").messages == 40)
    let partitions = try fleet.partitions(of: Self.scanner)
    #expect(partitions.count == 1, "one remote's events are in one partition")
    let allPartitions = try Set(
      fleet.publisher.messages(stream: "FLEET_EVENTS").compactMap {
        Int($0.subject.split(separator: ".")[2])
      })
    #expect(allPartitions == [0, 1, 2, 3], "the mapping spreads 31 remotes over the four partitions")
    let partition = try #require(partitions.first)
    let owner = partition % 2
    let durable = "agg-p\(partition)"
    // Mid-window: the owner holds the scanner's ten events (and its partition's others), unacknowledged.
    let held = try eventually(seconds: 30) {
      let state = try fleet.publisher.consumerState(stream: "FLEET_EVENTS", durable: durable)
      return state.undelivered == 0 && state.acknowledgementsPending >= 10
    }
    #expect(held, "the owner fetched and holds the partition's events")
    #expect(try fleet.fleetAlerts().isEmpty)
    fleet.aggregates[owner]?.kill()

    // The other twenty scanned hosts publish while the owner is down; its supervisor restarts it.
    try fleet.publish(hosts: Array(0..<20))
    try fleet.startAggregate(owner)
    let raised = try eventually(seconds: 40) { try !fleet.fleetAlerts().isEmpty }
    #expect(raised, "the restarted owner rebuilt the window from the redelivered events")
    var alerts = try fleet.fleetAlerts()
    #expect(alerts.count == 1)
    let alert = try #require(alerts.first)
    #expect((alert["rule"] as? [String: Any])?["id"] as? String == "FS-FLEET-001")
    let hosts = Set((alert["events"] as? [[String: Any]] ?? []).compactMap { $0["host"] as? String })
    #expect(hosts == Set((0..<30).map { "host-\($0)" }), "the alert lists the 30 scanned hosts")

    // Killed again after the alert, the owner re-raises it from the redelivered window: same id, stored once.
    fleet.aggregates[owner]?.kill()
    try fleet.startAggregate(owner)
    let reraised = eventually(seconds: 40) { fleet.aggregates[owner]?.errors.contains("alerts 1") == true }
    #expect(reraised, "\(fleet.aggregates[owner]?.errors ?? "")")
    // Its output had time to deliver: the stream answered `duplicate` and kept one.
    Thread.sleep(forTimeInterval: 2)
    alerts = try fleet.fleetAlerts()
    #expect(alerts.count == 1)
    #expect(alerts.first?["alert_id"] as? String == alert["alert_id"] as? String)
    for run in fleet.aggregates {
      run?.terminate()
      run?.wait(timeout: .seconds(30))
      #expect(run?.status == 0, "\(run?.errors ?? "")")
    }
    #expect(try fleet.fleetAlerts().count == 1)
  }

  @Test func aRuleSetGroupedByAnotherKeyIsRefused() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-fleet-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let rules = directory.appendingPathComponent("by-host.yaml").path
    try """
    - rule:
        id: T-HOST-1
        name: Many remotes reach one host
        description: test
        severity: low
        events: [net_flow_tcp_begin]
        condition: conn_direction == incoming
        threshold: {distinct: remote, count: 3, window: 1m, group_by: [host]}
        output: "{host}"
    """.write(toFile: rules, atomically: true, encoding: .utf8)
    let run = try SensorRun([
      "aggregate", "--rules", rules, "--input",
      "nats://127.0.0.1:9?stream=S&consumer=c&partitions=4&subject=p.{partition}.>",
    ])
    run.wait(timeout: .seconds(30))
    #expect(run.status == 1)
    #expect(run.errors.contains("group_by [host] spans partitions, which are partitioned by 'remote'"), "\(run.errors)")
  }

  @Test func wrongCredentialsAndAMissingStreamAreClearErrors() throws {
    var settings = NATSServer.Settings()
    settings.authorization = "user: agg, password: right"
    let server = try NATSServer(settings)
    let password = server.directory.appendingPathComponent("password").path
    try "agg:wrong\n".write(toFile: password, atomically: true, encoding: .utf8)
    let wrong = try SensorRun([
      "aggregate", "--input", "nats://127.0.0.1:\(server.port)?stream=S&consumer=c&basic_auth_file=\(password)",
    ])
    wrong.wait(timeout: .seconds(30))
    #expect(wrong.status == 1)
    #expect(wrong.errors.lowercased().contains("authorization"), "\(wrong.errors)")

    try "agg:right\n".write(toFile: password, atomically: true, encoding: .utf8)
    let missing = try SensorRun([
      "aggregate", "--input", "nats://127.0.0.1:\(server.port)?stream=NOPE&consumer=c&basic_auth_file=\(password)",
    ])
    missing.wait(timeout: .seconds(30))
    #expect(missing.status == 1)
    #expect(missing.errors.contains("no stream named NOPE"), "\(missing.errors)")
  }

  @Test func whatCannotBeEvaluatedIsAcknowledgedAndCounted() throws {
    let server = try NATSServer()
    let publisher = try JetStreamPublisher(connection: NATSConnection(NATSConnectionOptions(servers: [server.url])))
    try publisher.addStream(JetStreamStreamSettings(name: "EV", subjects: ["ev.>"]))
    func event(at seconds: Int64) -> [UInt8] {
      let flow = FlowEvent(
        name: .netFlowTCPBegin, timestamp: seconds * 1_000_000_000, direction: .incoming,
        source: Endpoint(IPAddress(Self.scanner)!, 40_000), destination: Endpoint(IPAddress("203.0.113.1")!, 22))
      return Array(EventJSON.line(for: .flow(flow), context: EventJSON.Context(hostName: "web-1")).utf8)
    }
    for (index, payload) in [
      event(at: Self.start), event(at: Self.start - 3_600), Array(#"{"type":"alert"}"#.utf8), Array("not json".utf8),
    ].enumerated() {
      _ = try publisher.publish(subject: "ev.\(index)", messageID: "m\(index)", payload: payload)
    }
    let run = try SensorRun([
      "aggregate", "--until-idle", "1", "--input", "nats://127.0.0.1:\(server.port)?stream=EV&consumer=c&subject=ev.>",
    ])
    run.wait(timeout: .seconds(30))
    #expect(run.status == 0, "\(run.errors)")
    for counted in ["fetched 4", "evaluated 1", "held 1", "acknowledged 3", "late 1", "skipped 1", "malformed 1"] {
      #expect(run.errors.contains(counted), "\(counted): \(run.errors)")
    }
    // The evaluated event is still in its window: left unacknowledged for the next instance.
    #expect(try publisher.consumerState(stream: "EV", durable: "c-p0").acknowledgementsPending == 1)
  }
}

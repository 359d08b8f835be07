import FlowsentryNATS
import FlowsentrySpool
import FlowsentryTestSupport
import Foundation
import SystemPackage
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The sensor binary publishing to a real JetStream: a single node, then the acceptance scenario
/// on a three-node cluster with a replicated stream, nodes and the sensor killed under load.
@Suite(.serialized) struct NATSClusterTests {
  final class Workspace {
    let root: URL
    init() throws {
      root = FileManager.default.temporaryDirectory.appendingPathComponent("fs-nats-run-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
      try AlertCapture.rule.write(to: rules, atomically: true, encoding: .utf8)
      try AlertCapture.write(count: 0, start: 0, to: empty.path)
    }
    deinit { try? FileManager.default.removeItem(at: root) }
    var rules: URL { root.appendingPathComponent("rules.yaml") }
    var spool: URL { root.appendingPathComponent("spool") }
    var empty: URL { root.appendingPathComponent("empty.pcap") }
    func capture(_ name: String) -> URL { root.appendingPathComponent(name) }

    /// `flowsentry replay` with one alert per connection and the nats:// output, as a sensor named `host`.
    /// `drainMilliseconds` is how long it may go on delivering after the capture is read.
    func sensor(
      _ capture: URL, servers: [UInt16], host: String = "sensor-1", drainMilliseconds: Int = 5_000
    ) throws -> SensorRun {
      let list = servers.map { "127.0.0.1:\($0)" }.joined(separator: ",")
      let query =
        "subject=fleet.{host}.{severity}.{rule}&name=fleet&ack_timeout_ms=2000&drain_timeout_ms=\(drainMilliseconds)"
      return try SensorRun([
        "replay", "--no-default-rules", "--rules", rules.path, "--events", "none", "--host", host,
        "--output", "nats://\(list)?\(query)",
        "--spool-dir", spool.path, capture.path,
      ])
    }

    /// Records the output's spool still holds (read after every sensor run ended).
    func spooled() throws -> Int {
      let directory = spool.appendingPathComponent("fleet").path
      guard FileManager.default.fileExists(atPath: directory) else { return 0 }
      return try Spool(directory: FilePath(directory)).pendingRecords
    }

    /// The `Nats-Msg-Id`s of the records the spool holds: each record is `SUBJECT\nID\nBODY`.
    func spooledIDs() throws -> Set<String> {
      let directory = spool.appendingPathComponent("fleet").path
      guard FileManager.default.fileExists(atPath: directory) else { return [] }
      let spool = try Spool(directory: FilePath(directory))
      var ids: Set<String> = []
      while case let records = spool.next(limit: 1_000, maximumBytes: 16 << 20), !records.isEmpty {
        for record in records {
          let lines = record.payload.split(separator: UInt8(ascii: "\n"), maxSplits: 2)
          if lines.count == 3 { ids.insert(String(decoding: lines[1], as: UTF8.self)) }
        }
      }
      return ids
    }
  }

  static func admin(_ ports: [UInt16]) throws -> JetStreamPublisher {
    var options = NATSConnectionOptions(servers: ports.map { "nats://127.0.0.1:\($0)" })
    options.maximumReconnects = -1
    options.reconnectWaitMilliseconds = 200
    return try JetStreamPublisher(connection: NATSConnection(options), acknowledgementTimeoutMilliseconds: 5_000)
  }

  /// Creates the stream, waiting for JetStream (a cluster elects its meta leader first).
  static func createStream(_ admin: JetStreamPublisher, replicas: Int) throws {
    var settings = JetStreamStreamSettings(name: "FLEET", subjects: ["fleet.>"])
    settings.replicas = replicas
    var lastError: Error?
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
      do {
        try admin.addStream(settings)
        return
      } catch {
        lastError = error
        usleep(250_000)
      }
    }
    throw lastError!
  }

  /// The ids the stream holds, and how often each.
  static func storedIDs(_ admin: JetStreamPublisher) throws -> [String: Int] {
    var counts: [String: Int] = [:]
    for message in try admin.messages(stream: "FLEET") { counts[message.messageID ?? "", default: 0] += 1 }
    return counts
  }

  /// Runs the sensor over an empty capture until its spool is empty (each run drains for up to 5 s).
  static func drain(_ workspace: Workspace, servers: [UInt16], runs: Int = 12) throws {
    for _ in 0..<runs where try workspace.spooled() > 0 {
      let run = try workspace.sensor(workspace.empty, servers: servers)
      run.wait()
    }
  }

  @Test func aReplayedSensorPublishesEachAlertOnce() throws {
    try TestEnvironment.require(.natsServer)
    let server = try NATSServer()
    let admin = try Self.admin([server.port])
    try Self.createStream(admin, replicas: 1)
    let workspace = try Workspace()
    let capture = workspace.capture("1000.pcap")
    try AlertCapture.write(count: 1_000, start: 1_700_000_000, to: capture.path)
    let run = try workspace.sensor(capture, servers: [server.port])
    run.wait()
    #expect(run.status == 0, "\(run.errors)")
    try Self.drain(workspace, servers: [server.port])
    let stored = try Self.storedIDs(admin)
    #expect(stored.count == 1_000, "\(run.errors)")
    #expect(stored.values.allSatisfy { $0 == 1 })
    #expect(try workspace.spooled() == 0)
    let subject = try admin.message(stream: "FLEET", sequence: 1)?.subject
    #expect(subject == "fleet.sensor-1.medium.TEST-NATS-001")

    // The same recording replayed by the same sensor: the same ids, every one a duplicate.
    let again = try workspace.sensor(capture, servers: [server.port])
    again.wait()
    try Self.drain(workspace, servers: [server.port])
    #expect(try Self.storedIDs(admin).count == 1_000)
    // Another sensor replaying it: other ids, stored beside the first sensor's.
    let other = try workspace.sensor(capture, servers: [server.port], host: "sensor-2")
    other.wait()
    try Self.drain(workspace, servers: [server.port])
    #expect(try Self.storedIDs(admin).count == 2_000)
  }

  @Test func aClusterLosingANodeAndASensorStoresEachAlertOnce() throws {
    try TestEnvironment.require(.natsServer)
    let clientPorts = (0..<3).map { _ in NATSServer.freePort() }
    let clusterPorts = (0..<3).map { _ in NATSServer.freePort() }
    let nodes = try (0..<3).map { index in
      var settings = NATSServer.Settings()
      settings.name = "n\(index + 1)"
      settings.port = clientPorts[index]
      settings.clusterPort = clusterPorts[index]
      settings.routes = clusterPorts.enumerated().filter { $0.offset != index }.map(\.element)
      return try NATSServer(settings)
    }
    let admin = try Self.admin(clientPorts)
    try Self.createStream(admin, replicas: 3)
    let workspace = try Workspace()
    let capture = workspace.capture("10000.pcap")
    try AlertCapture.write(count: 10_000, start: 1_700_000_000, to: capture.path)

    // 10,000 alerts; one node is killed while they are published, and the sensor too. The sensor
    // may go on delivering for 10 minutes after reading the capture, so that it is still publishing
    // when it is killed however long the stream takes to elect a leader in place of the dead node
    // (with the default 5 s it once left before the cluster took its messages again, and the
    // count this test waits for never came).
    let sensor = try workspace.sensor(capture, servers: clientPorts, drainMilliseconds: 600_000)
    #expect(eventually(seconds: 30) { ((try? admin.streamState("FLEET").messages) ?? 0) >= 500 })
    nodes[1].kill()
    #expect(eventually(seconds: 90) { ((try? admin.streamState("FLEET").messages) ?? 0) >= 3_000 })
    // Still running unless it delivered all 10,000 in the 20 ms since the last look.
    let countAtKill = (try? admin.streamState("FLEET").messages) ?? 0
    #expect(sensor.isRunning || countAtKill >= 10_000, "\(sensor.errors)")
    sensor.kill()
    try nodes[1].start()
    // What the killed sensor had spooled reaches the stream from its spool alone, each record once:
    // runs over an empty capture deliver it, and nothing else can.
    let storedAtKill = Set(try Self.storedIDs(admin).keys)
    let spooledAtKill = try workspace.spooledIDs()
    #expect(!spooledAtKill.isEmpty || countAtKill >= 10_000)
    try Self.drain(workspace, servers: clientPorts)
    let fromTheSpool = try Self.storedIDs(admin)
    #expect(Set(fromTheSpool.keys) == storedAtKill.union(spooledAtKill))
    #expect(fromTheSpool.values.allSatisfy { $0 == 1 })
    #expect(try workspace.spooled() == 0)
    // A replay restarts from the recording's start: what the killed sensor still held in memory
    // comes again, and what the stream holds already is dropped by its id.
    let restarted = try workspace.sensor(capture, servers: clientPorts)
    restarted.wait()
    try Self.drain(workspace, servers: clientPorts)
    var stored = try Self.storedIDs(admin)
    #expect(stored.count == 10_000, "\(restarted.errors)")
    #expect(stored.values.allSatisfy { $0 == 1 })
    #expect(try workspace.spooled() == 0)

    // The whole cluster down for 30 s: everything spooled, then delivered once.
    for node in nodes { node.kill() }
    let second = workspace.capture("2000.pcap")
    try AlertCapture.write(count: 2_000, start: 1_800_000_000, to: second.path)
    let offline = try workspace.sensor(second, servers: clientPorts)
    offline.wait()
    #expect(try workspace.spooled() == 2_000, "\(offline.errors)")
    sleep(30)
    for node in nodes { try node.start() }
    #expect(eventually(seconds: 30) { (try? admin.streamState("FLEET")) != nil })
    try Self.drain(workspace, servers: clientPorts)
    stored = try Self.storedIDs(admin)
    #expect(stored.count == 12_000)
    #expect(stored.values.allSatisfy { $0 == 1 })
    #expect(try workspace.spooled() == 0)
  }
}

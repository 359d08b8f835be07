import FlowsentryCore
import FlowsentryForwarding
import FlowsentryNATS
import FlowsentryOutput
import FlowsentryTestSupport
import Foundation
import SystemPackage
import Testing

/// The `nats://` forwarding output against a real nats-server with JetStream: a record is
/// committed in the spool only when JetStream acknowledged it.
@Suite(.serialized) struct NATSOutputTests {
  static func alert(_ index: Int, host: String = "sensor-1", message: String? = nil) -> Alert {
    let time: WallClockNanoseconds = 1_700_000_000_000_000_000 + WallClockNanoseconds(index) * 1_000_000
    let group = [(field: "remote", value: "203.0.113.\(index % 250)")]
    return Alert(
      id: StableIdentifier.alert(host: host, ruleID: "scan.ports", group: group, firstEventTime: time), timestamp: time,
      ruleID: "scan.ports", ruleName: "Port scan", severity: index % 3 == 0 ? .high : .medium, tags: ["T1046"],
      message: message ?? "alert \(index)", group: group, count: 1, windowNanoseconds: nil, suppressed: 0, events: [],
      eventsLeftOut: 0)
  }

  final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.withLock { stored.append(line) } }
    var all: [String] { lock.withLock { stored } }
  }

  static func output(_ spec: String, spool: FilePath, log: Lines, drainMilliseconds: Int = 10_000) throws
    -> ForwardingOutput
  {
    var configuration = try OutputSpecification.parse(spec)
    configuration.retryInitialMilliseconds = 100
    configuration.retryMaximumMilliseconds = 500
    configuration.drainTimeoutMilliseconds = drainMilliseconds
    let output = try ForwardingOutput(configuration: configuration, spoolDirectory: spool, log: { log.append($0) })
    output.start()
    return output
  }

  static func temporaryDirectory() throws -> FilePath {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("fs-nats-spool-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return FilePath(url.path)
  }

  static func management(_ server: NATSServer) throws -> JetStreamPublisher {
    var options = NATSConnectionOptions(servers: [server.url])
    options.maximumReconnects = 2
    return try JetStreamPublisher(connection: NATSConnection(options))
  }

  @Test func deliversEachAlertOnceAndCountsResentDuplicates() throws {
    try TestEnvironment.require(.natsServer)
    let server = try NATSServer()
    let admin = try Self.management(server)
    try admin.addStream(JetStreamStreamSettings(name: "FLOWSENTRY", subjects: ["flowsentry.>"]))
    let alerts = (0..<500).map { Self.alert($0) }
    let spec =
      "nats://127.0.0.1:\(NATSServer.freePort()),127.0.0.1:\(server.port)?subject=flowsentry.{host}.{severity}.{rule}"
    for run in 0..<2 {
      let log = Lines()
      let spool = try Self.temporaryDirectory()
      defer { try? FileManager.default.removeItem(atPath: spool.string) }
      let output = try Self.output(spec, spool: spool, log: log)
      let router = OutputRouter(outputs: [output], context: EventJSON.Context(hostName: "sensor-1.lab"), processID: 1)
      for alert in alerts { router.receive(alert) }
      #expect(eventually(seconds: 20) { output.counters.delivered == 500 }, "\(output.counters) \(log.all)")
      output.stop()
      let counters = output.counters
      #expect(counters.delivered == 500)
      #expect(counters.spoolPending == 0)
      #expect(counters.nats?.acknowledged == 500)
      // The second run sends the same alert ids: JetStream drops each one as a duplicate.
      #expect(counters.nats?.duplicates == (run == 0 ? 0 : 500), "\(String(describing: counters.nats))")
      let rows = counters.samples(output: "fleet")
      #expect(rows.first { $0.name == "flowsentry_output_nats_duplicates_total" }?.value == (run == 0 ? 0 : 500))
      #expect(rows.filter { $0.name == "flowsentry_output_nats_errors_total" }.count == NATSError.kinds.count)
    }
    let stored = try admin.messages(stream: "FLOWSENTRY")
    #expect(stored.count == 500)
    #expect(Set(stored.compactMap(\.messageID)) == Set(alerts.map(\.id)))
    // The host's dot and the rule's dot are encoded inside their tokens.
    #expect(stored.first?.subject == "flowsentry.sensor-1%2Elab.high.scan%2Eports")
    let document = try JSONSerialization.jsonObject(with: Data(stored[0].data)) as? [String: Any]
    #expect(document?["alert_id"] as? String == alerts[0].id)
  }

  @Test func aSubjectNoStreamListensOnIsNeverDelivered() throws {
    try TestEnvironment.require(.natsServer)
    let server = try NATSServer()
    let admin = try Self.management(server)
    let log = Lines()
    let spool = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: spool.string) }
    let output = try Self.output("nats://127.0.0.1:\(server.port)?subject=nowhere.{host}", spool: spool, log: log)
    let router = OutputRouter(outputs: [output], context: EventJSON.Context(hostName: "h1"), processID: 1)
    for index in 0..<20 { router.receive(Self.alert(index)) }
    #expect(eventually(seconds: 10) { (output.counters.nats?.errors["no_stream"] ?? 0) >= 3 })
    // All twenty reach the spool (the last may still be on its way from the queue), none leaves it.
    #expect(eventually(seconds: 10) { output.counters.spoolPending == 20 })
    var counters = output.counters
    #expect(counters.delivered == 0)
    #expect(counters.spoolPending == 20)
    let complaints = log.all.filter { $0.contains("no JetStream stream listens on the subject nowhere.h1") }
    #expect(complaints.count == 1, "\(log.all)")

    // Once a stream takes the subject, the spooled alerts are delivered, once each.
    try admin.addStream(JetStreamStreamSettings(name: "LATE", subjects: ["nowhere.>"]))
    #expect(eventually(seconds: 10) { output.counters.delivered == 20 }, "\(output.counters)")
    output.stop()
    counters = output.counters
    #expect(counters.spoolPending == 0)
    #expect(try admin.streamState("LATE").messages == 20)
  }

  @Test func aMessageOverMaxPayloadIsDeadLetteredNotRetried() throws {
    try TestEnvironment.require(.natsServer)
    var settings = NATSServer.Settings()
    settings.maximumPayload = 4_096
    let server = try NATSServer(settings)
    let admin = try Self.management(server)
    try admin.addStream(JetStreamStreamSettings(name: "FLOWSENTRY", subjects: ["flowsentry.>"]))
    let log = Lines()
    let spool = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: spool.string) }
    let output = try Self.output("nats://127.0.0.1:\(server.port)?subject=flowsentry.{host}", spool: spool, log: log)
    let router = OutputRouter(outputs: [output], context: EventJSON.Context(hostName: "h1"), processID: 1)
    for index in 0..<10 {
      router.receive(Self.alert(index, message: index == 4 ? String(repeating: "x", count: 8_000) : nil))
    }
    #expect(eventually(seconds: 10) { output.counters.spoolPending == 0 }, "\(output.counters)")
    output.stop()
    let counters = output.counters
    #expect(counters.delivered == 9)
    #expect(counters.deadLettered == 1)
    #expect(counters.nats?.errors["payload_too_large"] == 1)
    #expect(counters.retries == 0)
    #expect(try admin.streamState("FLOWSENTRY").messages == 9)
    let deadLetters = try String(contentsOfFile: spool.appending("dead-letter.jsonl").string, encoding: .utf8)
    #expect(deadLetters.split(separator: "\n").count == 1)
    #expect(deadLetters.contains("max_payload 4096"))
    #expect(log.all.contains { $0.contains("1 records refused for good") })
  }

  @Test func wrongCredentialsAreCountedAndNothingIsDelivered() throws {
    try TestEnvironment.require(.natsServer)
    var settings = NATSServer.Settings()
    settings.authorization = "user: sensor, password: right-password"
    let server = try NATSServer(settings)
    let secret = server.directory.appendingPathComponent("userpass").path
    try "sensor:wrong-password\n".write(toFile: secret, atomically: true, encoding: .utf8)
    let log = Lines()
    let spool = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: spool.string) }
    let output = try Self.output(
      "nats://127.0.0.1:\(server.port)?subject=flowsentry.{host}&basic_auth_file=\(secret)", spool: spool, log: log,
      drainMilliseconds: 500)
    let router = OutputRouter(outputs: [output], context: EventJSON.Context(hostName: "h1"), processID: 1)
    for index in 0..<5 { router.receive(Self.alert(index)) }
    #expect(
      eventually(seconds: 10) { (output.counters.nats?.errors["authentication"] ?? 0) >= 2 }, "\(output.counters)")
    output.stop()
    let counters = output.counters
    #expect(counters.delivered == 0)
    #expect(counters.spoolPending == 5)
    #expect(counters.lastError?.contains("authentication refused") == true, "\(String(describing: counters.lastError))")
    #expect(!log.all.joined().contains("wrong-password"))
  }
}

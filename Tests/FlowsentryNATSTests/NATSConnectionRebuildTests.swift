import FlowsentryCore
import FlowsentryForwarding
import FlowsentryNATS
import FlowsentryOutput
import FlowsentryTestSupport
import Foundation
import Testing

/// libnats closes a connection for good when a server refuses its credentials twice in a row while
/// reconnecting (a rotated password, say). The output then builds a new connection, reading its
/// credential file again, instead of failing every publish on the closed one for ever.
@Suite(.serialized) struct NATSConnectionRebuildTests {
  @Test func aConnectionClosedByRotatedCredentialsIsBuiltAnewFromTheUpdatedFile() throws {
    try TestEnvironment.require(.natsServer)
    var settings = NATSServer.Settings()
    settings.authorization = "user: sensor, password: old-password"
    var server: NATSServer? = try NATSServer(settings)
    let secrets = FileManager.default.temporaryDirectory.appendingPathComponent("fs-nats-rotate-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: secrets, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: secrets) }
    let sensorFile = secrets.appendingPathComponent("sensor").path
    try "sensor:old-password\n".write(toFile: sensorFile, atomically: true, encoding: .utf8)
    func management(_ server: NATSServer) throws -> JetStreamPublisher {
      var options = NATSConnectionOptions(servers: [server.url])
      options.credentials = .userPasswordFile(sensorFile)
      options.maximumReconnects = 0
      return try JetStreamPublisher(connection: NATSConnection(options))
    }
    try management(server!).addStream(JetStreamStreamSettings(name: "FLEET", subjects: ["fleet.>"]))

    let log = NATSOutputTests.Lines()
    let spool = try NATSOutputTests.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: spool.string) }
    let output = try NATSOutputTests.output(
      "nats://127.0.0.1:\(server!.port)?subject=fleet.{host}&basic_auth_file=\(sensorFile)&ack_timeout_ms=500",
      spool: spool, log: log, drainMilliseconds: 500)
    let router = OutputRouter(outputs: [output], context: EventJSON.Context(hostName: "h1"), processID: 1)
    for index in 0..<5 { router.receive(NATSOutputTests.alert(index)) }
    #expect(eventually(seconds: 10) { output.counters.delivered == 5 }, "\(output.counters) \(log.all)")

    // The server comes back on the same port with a new password; the file still has the old one.
    server!.kill()
    settings.authorization = "user: sensor, password: new-password"
    settings.port = server!.port
    server = nil
    let restarted = try NATSServer(settings)
    for index in 5..<10 { router.receive(NATSOutputTests.alert(index)) }
    #expect(
      eventually(seconds: 15) { (output.counters.nats?.errors.values.reduce(0, +) ?? 0) >= 2 }, "\(output.counters)")
    // libnats gives up after the same refusal twice (reconnecting every 100 ms here); publishes on
    // its connection fail from then on.
    usleep(1_500_000)
    #expect(output.counters.delivered == 5)

    try "sensor:new-password\n".write(toFile: sensorFile, atomically: true, encoding: .utf8)
    try management(restarted).addStream(JetStreamStreamSettings(name: "FLEET", subjects: ["fleet.>"]))
    #expect(eventually(seconds: 20) { output.counters.delivered == 10 }, "\(output.counters) \(log.all)")
    output.stop()
    #expect(output.counters.spoolPending == 0)
    #expect((output.counters.nats?.connectionsRebuilt ?? 0) >= 1, "\(String(describing: output.counters.nats))")
    // The closed connection's reason, the refused password, is counted and logged.
    #expect((output.counters.nats?.errors["authentication"] ?? 0) >= 1, "\(String(describing: output.counters.nats))")
    #expect(log.all.contains { $0.contains("Authorization Violation") }, "\(log.all)")
    #expect(!log.all.joined().contains("password"), "\(log.all)")
    #expect(try management(restarted).streamState("FLEET").messages == 5)
  }
}

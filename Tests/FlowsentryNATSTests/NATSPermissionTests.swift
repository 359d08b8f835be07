import FlowsentryCore
import FlowsentryForwarding
import FlowsentryNATS
import FlowsentryOutput
import FlowsentryTestSupport
import Foundation
import Testing

/// FLEET.md's permissions, on a real server: a sensor publishes under its own subjects only.
@Suite(.serialized) struct NATSPermissionTests {
  @Test func aSensorCannotPublishUnderAnotherHostsSubjects() throws {
    try TestEnvironment.require(.natsServer)
    var settings = NATSServer.Settings()
    settings.authorization = """
      users = [
          { user: "admin", password: "admin-password" },
          { user: "web-1", password: "web-1-password",
            permissions: { publish: { allow: ["fleet.web-1.>"] }, subscribe: { allow: ["_INBOX.>"] } } }
        ]
      """
    let server = try NATSServer(settings)
    let adminFile = server.directory.appendingPathComponent("admin").path
    try "admin:admin-password\n".write(toFile: adminFile, atomically: true, encoding: .utf8)
    let sensorFile = server.directory.appendingPathComponent("web-1").path
    try "web-1:web-1-password\n".write(toFile: sensorFile, atomically: true, encoding: .utf8)
    var options = NATSConnectionOptions(servers: [server.url])
    options.credentials = .userPasswordFile(adminFile)
    let admin = try JetStreamPublisher(connection: NATSConnection(options))
    try admin.addStream(JetStreamStreamSettings(name: "FLEET", subjects: ["fleet.>"]))

    var delivered: [String: UInt64] = [:]
    var timeouts: [String: UInt64] = [:]
    for host in ["web-1", "web-2"] {
      let log = NATSOutputTests.Lines()
      let spool = try NATSOutputTests.temporaryDirectory()
      defer { try? FileManager.default.removeItem(atPath: spool.string) }
      let output = try NATSOutputTests.output(
        "nats://127.0.0.1:\(server.port)?subject=fleet.{host}.{rule}&basic_auth_file=\(sensorFile)&ack_timeout_ms=300",
        spool: spool, log: log, drainMilliseconds: 500)
      let router = OutputRouter(outputs: [output], context: EventJSON.Context(hostName: host), processID: 1)
      for index in 0..<10 { router.receive(NATSOutputTests.alert(index, host: host)) }
      _ = eventually(seconds: 5) {
        output.counters.delivered == 10 || (output.counters.nats?.errors["timeout"] ?? 0) >= 2
      }
      output.stop()
      delivered[host] = output.counters.delivered
      timeouts[host] = output.counters.nats?.errors["timeout"] ?? 0
      if host == "web-2" { #expect(output.counters.spoolPending == 10) }
    }
    #expect(delivered == ["web-1": 10, "web-2": 0])
    #expect(timeouts["web-2", default: 0] >= 2)
    #expect(try admin.streamState("FLEET").messages == 10)
  }
}

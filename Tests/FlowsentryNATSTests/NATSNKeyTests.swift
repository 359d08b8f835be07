import FlowsentryCore
import FlowsentryForwarding
import FlowsentryNATS
import FlowsentryOutput
import FlowsentryTestSupport
import Foundation
import Testing

/// `nkey=` with `nkey_seed_file=` against a server whose user is that NKey: delivered; a key the
/// server does not know, or a seed that does not sign for the key given, is refused and counted.
@Suite(.serialized) struct NATSNKeyTests {
  @Test func anNKeyUserDeliversAndAWrongKeyIsRefused() throws {
    try TestEnvironment.require(.natsServer, .executable("/usr/bin/openssl"))
    let keys = FileManager.default.temporaryDirectory.appendingPathComponent("fs-nats-nkeys-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: keys) }
    let sensor = try NKeyPair.make(in: keys, name: "sensor")
    let stranger = try NKeyPair.make(in: keys, name: "stranger")
    #expect(sensor.publicKey.count == 56 && sensor.publicKey.hasPrefix("U"))
    #expect(sensor.seed.count == 58 && sensor.seed.hasPrefix("SU"))
    let sensorSeed = keys.appendingPathComponent("sensor.seed").path
    let strangerSeed = keys.appendingPathComponent("stranger.seed").path
    try (sensor.seed + "\n").write(toFile: sensorSeed, atomically: true, encoding: .utf8)
    try (stranger.seed + "\n").write(toFile: strangerSeed, atomically: true, encoding: .utf8)

    var settings = NATSServer.Settings()
    settings.authorization = "users: [ { nkey: \(sensor.publicKey) } ]"
    let server = try NATSServer(settings)
    var options = NATSConnectionOptions(servers: [server.url])
    options.credentials = .nkeySeedFile(publicKey: sensor.publicKey, path: sensorSeed)
    options.maximumReconnects = 2
    let admin = try JetStreamPublisher(connection: NATSConnection(options))
    try admin.addStream(JetStreamStreamSettings(name: "FLEET", subjects: ["fleet.>"]))

    let base = "nats://127.0.0.1:\(server.port)?subject=fleet.{host}"
    for (index, (credentials, delivers)) in [
      ("nkey=\(sensor.publicKey)&nkey_seed_file=\(sensorSeed)", true),
      // A key the server has no user for.
      ("nkey=\(stranger.publicKey)&nkey_seed_file=\(strangerSeed)", false),
      // The sensor's key, signed with another seed: the server checks the signature.
      ("nkey=\(sensor.publicKey)&nkey_seed_file=\(strangerSeed)", false),
    ].enumerated() {
      let log = NATSOutputTests.Lines()
      let spool = try NATSOutputTests.temporaryDirectory()
      defer { try? FileManager.default.removeItem(atPath: spool.string) }
      let output = try NATSOutputTests.output(
        base + "&" + credentials, spool: spool, log: log, drainMilliseconds: 500)
      let router = OutputRouter(outputs: [output], context: EventJSON.Context(hostName: "h1"), processID: 1)
      for alert in (0..<5).map({ NATSOutputTests.alert(100 * index + $0) }) { router.receive(alert) }
      _ = eventually(seconds: 10) {
        output.counters.delivered == 5 || (output.counters.nats?.errors["authentication"] ?? 0) >= 2
      }
      output.stop()
      let counters = output.counters
      #expect(counters.delivered == (delivers ? 5 : 0), "\(credentials): \(log.all)")
      if !delivers {
        #expect(counters.spoolPending == 5)
        #expect((counters.nats?.errors["authentication"] ?? 0) >= 2, "\(String(describing: counters.nats))")
        #expect(
          counters.lastError?.contains("authentication refused") == true, "\(String(describing: counters.lastError))")
        #expect(!log.all.joined().contains(stranger.seed))
      }
    }
    #expect(try admin.streamState("FLEET").messages == 5)
  }
}

import FlowsentryAggregate
import FlowsentryCore
import FlowsentryForwarding
import FlowsentryNATS
import FlowsentryOutput
import FlowsentryTestSupport
import Foundation
import Testing

/// Any TLS key (`ca`, `cert`, `key`, `server_name`, `tls_verify`) asks for TLS: `server_name=`
/// or `tls_verify=false` alone never connect in plaintext, where a token would go in clear.
@Suite(.serialized) struct NATSTLSRequirementTests {
  /// A CA and a server certificate for `nats.corp` and 127.0.0.1, in `directory`.
  static func makeCertificates(in directory: URL) throws {
    let script = """
      set -e
      cd '\(directory.path)'
      openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=flowsentry-test-ca 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr -subj /CN=nats.corp 2>/dev/null
      printf 'subjectAltName=DNS:nats.corp,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > server.ext
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server.pem -days 2 \
        -extfile server.ext 2>/dev/null
      """
    let result = try ChildProcess.run("/bin/sh", ["-c", script])
    guard result.termination == .exited(0) else {
      throw NATSServerError.notListening(0, "openssl failed (\(result.termination)): \(result.stderr)")
    }
  }

  /// Publishes five alerts (ids from `first`) through `spec`, waits for them or for failures, and
  /// returns the output's counters once stopped.
  static func run(_ spec: String, first: Int, log: NATSOutputTests.Lines) throws -> ForwardingOutput.Counters {
    let spool = try NATSOutputTests.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: spool.string) }
    let output = try NATSOutputTests.output(spec, spool: spool, log: log, drainMilliseconds: 500)
    let router = OutputRouter(outputs: [output], context: EventJSON.Context(hostName: "h1"), processID: 1)
    for index in first..<first + 5 { router.receive(NATSOutputTests.alert(index)) }
    _ = eventually(seconds: 10) { output.counters.delivered == 5 || output.counters.retries >= 2 }
    output.stop()
    return output.counters
  }

  @Test func aTLSKeyAloneRefusesAPlaintextServerAndKeepsTheTokenOffTheWire() throws {
    try TestEnvironment.require(.natsServer)
    var settings = NATSServer.Settings()
    settings.authorization = "token: plaintext-token"
    let server = try NATSServer(settings)
    let token = server.directory.appendingPathComponent("token").path
    try "plaintext-token\n".write(toFile: token, atomically: true, encoding: .utf8)
    var options = NATSConnectionOptions(servers: [server.url])
    options.credentials = .tokenFile(token)
    options.maximumReconnects = 2
    let admin = try JetStreamPublisher(connection: NATSConnection(options))
    try admin.addStream(JetStreamStreamSettings(name: "FLEET", subjects: ["fleet.>"]))

    let base = "nats://127.0.0.1:\(server.port)?subject=fleet.{host}&token_file=\(token)"
    // Without a TLS key the server takes the output in plaintext: the control.
    let log = NATSOutputTests.Lines()
    #expect(try Self.run(base, first: 0, log: log).delivered == 5, "\(log.all)")
    for (index, tls) in ["server_name=nats.corp", "tls_verify=false", "server_name=nats.corp&tls_verify=false"]
      .enumerated()
    {
      let log = NATSOutputTests.Lines()
      let counters = try Self.run(base + "&" + tls, first: 100 * (index + 1), log: log)
      #expect(counters.delivered == 0, "\(tls): \(log.all)")
      #expect(counters.spoolPending == 5, "\(tls)")
      #expect((counters.nats?.errors["configuration"] ?? 0) >= 1, "\(tls): \(String(describing: counters.nats))")
      #expect(counters.lastError?.contains("TLS is asked for") == true, "\(String(describing: counters.lastError))")
      #expect(log.all.contains { $0.contains("TLS is asked for") }, "\(log.all)")
    }
    #expect(try admin.streamState("FLEET").messages == 5)

    // The aggregate's input: the same keys, the same refusal.
    for tls in ["server_name=nats.corp", "tls_verify=false"] {
      let input = try AggregateInput.parse(
        "nats://127.0.0.1:\(server.port)?stream=FLEET&consumer=fleet&token_file=\(token)&\(tls)")
      #expect(input.connectionOptions.usesTLS, "\(tls)")
      var connectionOptions = input.connectionOptions
      connectionOptions.maximumReconnects = 0
      #expect(throws: NATSError.self, "\(tls)") { _ = try NATSConnection(connectionOptions) }
    }
  }

  @Test func aServerNameAloneSpeaksTLSToATLSOnlyServer() throws {
    try TestEnvironment.require(.natsServer, .executable("/usr/bin/openssl"))
    let certificates = FileManager.default.temporaryDirectory.appendingPathComponent("fs-nats-tls-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: certificates, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: certificates) }
    try Self.makeCertificates(in: certificates)
    let file = { (name: String) in certificates.appendingPathComponent(name).path }
    var settings = NATSServer.Settings()
    // TLS only (no allow_non_tls): whatever is delivered went over TLS.
    settings.extra = """
      tls { cert_file: "\(file("server.pem"))", key_file: "\(file("server-key.pem"))" }
      """
    let server = try NATSServer(settings)
    var options = NATSConnectionOptions(servers: [server.url])
    options.caFile = file("ca.pem")
    options.maximumReconnects = 2
    let admin = try JetStreamPublisher(connection: NATSConnection(options))
    try admin.addStream(JetStreamStreamSettings(name: "FLEET", subjects: ["fleet.>"]))

    let base = "nats://127.0.0.1:\(server.port)?subject=fleet.{host}"
    var stored = 0
    for (index, (tls, delivers)) in [
      // The name is checked against the certificate, though the URL gives an address.
      ("server_name=nats.corp&ca=\(file("ca.pem"))", true),
      ("server_name=other.corp&ca=\(file("ca.pem"))", false),
      // The system's trust store does not know the test CA: verification fails, nothing goes in plaintext.
      ("server_name=nats.corp", false),
      ("tls_verify=false", true),
    ].enumerated() {
      let log = NATSOutputTests.Lines()
      let counters = try Self.run(base + "&" + tls, first: 100 * index, log: log)
      #expect(counters.delivered == (delivers ? 5 : 0), "\(tls): \(log.all)")
      if delivers {
        stored += 5
      } else {
        #expect(counters.spoolPending == 5, "\(tls)")
        #expect(counters.nats?.errors.values.reduce(0, +) ?? 0 >= 1, "\(tls): \(String(describing: counters.nats))")
        #expect(counters.lastError != nil, "\(tls)")
      }
    }
    #expect(try admin.streamState("FLEET").messages == UInt64(stored))
  }
}

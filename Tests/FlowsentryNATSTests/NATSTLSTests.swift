import FlowsentryCore
import FlowsentryForwarding
import FlowsentryNATS
import FlowsentryOutput
import FlowsentryTestSupport
import Foundation
import Testing

/// TLS with a private CA and client certificates (openssl makes them), against a server that
/// verifies clients.
@Suite(.serialized) struct NATSTLSTests {
  /// A CA, a server certificate for 127.0.0.1 and a client certificate, in `directory`.
  static func makeCertificates(in directory: URL) throws {
    let script = """
      set -e
      cd '\(directory.path)'
      openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=flowsentry-test-ca 2>/dev/null
      for name in server client; do
        openssl req -newkey rsa:2048 -nodes -keyout $name-key.pem -out $name.csr -subj /CN=$name 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > $name.ext
        openssl x509 -req -in $name.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out $name.pem -days 2 \
          -extfile $name.ext 2>/dev/null
      done
      """
    let result = try ChildProcess.run("/bin/sh", ["-c", script])
    guard result.termination == .exited(0) else {
      throw NATSServerError.notListening(0, "openssl failed (\(result.termination)): \(result.stderr)")
    }
  }

  @Test func mutualTLSDeliversAndAMissingClientCertificateDoesNot() throws {
    try TestEnvironment.require(.natsServer, .executable("/usr/bin/openssl"))
    let certificates = FileManager.default.temporaryDirectory.appendingPathComponent("fs-nats-tls-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: certificates, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: certificates) }
    try Self.makeCertificates(in: certificates)
    let file = { (name: String) in certificates.appendingPathComponent(name).path }
    var settings = NATSServer.Settings()
    settings.extra = """
      tls { cert_file: "\(file("server.pem"))", key_file: "\(file("server-key.pem"))", ca_file: "\(file("ca.pem"))", verify: true }
      """
    let server = try NATSServer(settings)

    var options = NATSConnectionOptions(servers: [server.url])
    options.caFile = file("ca.pem")
    options.certificateFile = file("client.pem")
    options.keyFile = file("client-key.pem")
    options.maximumReconnects = 2
    let admin = try JetStreamPublisher(connection: NATSConnection(options))
    try admin.addStream(JetStreamStreamSettings(name: "FLEET", subjects: ["fleet.>"]))

    let tls = "ca=\(file("ca.pem"))&cert=\(file("client.pem"))&key=\(file("client-key.pem"))"
    for (spec, expected) in [
      ("nats://127.0.0.1:\(server.port)?subject=fleet.{host}&\(tls)", UInt64(5)),
      // The server requires a client certificate: without one, nothing is delivered.
      ("nats://127.0.0.1:\(server.port)?subject=fleet.{host}&ca=\(file("ca.pem"))&name=nocert", 0),
    ] {
      let log = NATSOutputTests.Lines()
      let spool = try NATSOutputTests.temporaryDirectory()
      defer { try? FileManager.default.removeItem(atPath: spool.string) }
      let output = try NATSOutputTests.output(spec, spool: spool, log: log, drainMilliseconds: 500)
      let router = OutputRouter(outputs: [output], context: EventJSON.Context(hostName: "h1"), processID: 1)
      for index in 0..<5 { router.receive(NATSOutputTests.alert(index)) }
      _ = eventually(seconds: 5) { output.counters.delivered == 5 || output.counters.retries >= 2 }
      output.stop()
      #expect(output.counters.delivered == expected, "\(spec): \(log.all)")
      if expected == 0 { #expect(output.counters.spoolPending == 5) }
    }
    #expect(try admin.streamState("FLEET").messages == 5)
  }
}

import FlowsentryCore
import FlowsentryForwarding
import FlowsentryNATS
import FlowsentryOutput
import FlowsentryTestSupport
import Foundation
import Testing

/// `creds_file=` against a server in operator mode (decentralized JWT authentication): an operator,
/// an account it signs and a user the account signs, made here with openssl (Ed25519) and the JWT
/// format NATS uses (`alg` `ed25519-nkey`), with no NATS tooling. A user another account signed is
/// refused and counted.
@Suite(.serialized) struct NATSCredsFileTests {
  static func base64URL(_ bytes: [UInt8]) -> String {
    Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
      .replacingOccurrences(of: "=", with: "")
  }

  /// A JWT over `claims`, issued and signed by `issuer`.
  static func jwt(_ claims: [String: Any], subject: NKeyPair, issuer: NKeyPair, name: String, in directory: URL)
    throws -> String
  {
    var claims = claims
    claims["jti"] = UUID().uuidString.replacingOccurrences(of: "-", with: "")
    claims["iat"] = Int(Date().timeIntervalSince1970)
    claims["iss"] = issuer.publicKey
    claims["sub"] = subject.publicKey
    claims["name"] = name
    let header = try JSONSerialization.data(
      withJSONObject: ["typ": "JWT", "alg": "ed25519-nkey"], options: .sortedKeys)
    let body = try JSONSerialization.data(withJSONObject: claims, options: .sortedKeys)
    let signed = base64URL([UInt8](header)) + "." + base64URL([UInt8](body))
    let input = directory.appendingPathComponent("\(name).jwt-input")
    let signature = directory.appendingPathComponent("\(name).sig")
    try signed.write(to: input, atomically: true, encoding: .utf8)
    let result = try ChildProcess.run(
      "/usr/bin/openssl",
      [
        "pkeyutl", "-sign", "-rawin", "-inkey", issuer.privateKeyFile, "-keyform", "DER", "-in", input.path, "-out",
        signature.path,
      ])
    guard result.termination == .exited(0) else {
      throw NATSServerError.notListening(0, "openssl could not sign (\(result.termination)): \(result.stderr)")
    }
    return signed + "." + base64URL([UInt8](try Data(contentsOf: signature)))
  }

  /// The `.creds` file `nsc` writes: the user's JWT, then its seed.
  static func credentials(jwt: String, seed: String) -> String {
    """
    -----BEGIN NATS USER JWT-----
    \(jwt)
    ------END NATS USER JWT------

    -----BEGIN USER NKEY SEED-----
    \(seed)
    ------END USER NKEY SEED------

    """
  }

  static var unlimitedAccount: [String: Any] {
    [
      "limits": [
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": true, "conn": -1, "leaf": -1,
        "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
      ],
      "default_permissions": ["pub": [String: Any](), "sub": [String: Any]()], "type": "account", "version": 2,
    ]
  }
  static var unlimitedUser: [String: Any] {
    [
      "pub": [String: Any](), "sub": [String: Any](), "subs": -1, "data": -1, "payload": -1, "type": "user",
      "version": 2,
    ]
  }

  @Test func aCredsFileUserDeliversAndAUserOfAnUnknownAccountIsRefused() throws {
    try TestEnvironment.require(.natsServer, .executable("/usr/bin/openssl"))
    let keys = FileManager.default.temporaryDirectory.appendingPathComponent("fs-nats-creds-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: keys) }
    let operatorKey = try NKeyPair.make(in: keys, name: "operator", kind: .operator)
    let account = try NKeyPair.make(in: keys, name: "account", kind: .account)
    let stranger = try NKeyPair.make(in: keys, name: "stranger-account", kind: .account)
    // JetStream will not start in operator mode without a system account.
    let system = try NKeyPair.make(in: keys, name: "system", kind: .account)
    let user = try NKeyPair.make(in: keys, name: "user")
    let operatorJWT = try Self.jwt(
      ["nats": ["type": "operator", "version": 2]], subject: operatorKey, issuer: operatorKey, name: "operator",
      in: keys)
    let accountJWT = try Self.jwt(
      ["nats": Self.unlimitedAccount], subject: account, issuer: operatorKey, name: "account", in: keys)
    let systemJWT = try Self.jwt(
      ["nats": ["type": "account", "version": 2]], subject: system, issuer: operatorKey, name: "system", in: keys)
    let userJWT = try Self.jwt(["nats": Self.unlimitedUser], subject: user, issuer: account, name: "user", in: keys)
    // Signed by an account the operator never signed: the server knows no such account.
    let strangerJWT = try Self.jwt(
      ["nats": Self.unlimitedUser], subject: user, issuer: stranger, name: "stranger-user", in: keys)
    let userCreds = keys.appendingPathComponent("user.creds").path
    let strangerCreds = keys.appendingPathComponent("stranger.creds").path
    try Self.credentials(jwt: userJWT, seed: user.seed).write(toFile: userCreds, atomically: true, encoding: .utf8)
    try Self.credentials(jwt: strangerJWT, seed: user.seed).write(
      toFile: strangerCreds, atomically: true, encoding: .utf8)

    var settings = NATSServer.Settings()
    settings.extra = """
      operator: "\(operatorJWT)"
      resolver: MEMORY
      system_account: \(system.publicKey)
      resolver_preload: { \(account.publicKey): "\(accountJWT)", \(system.publicKey): "\(systemJWT)" }
      """
    let server = try NATSServer(settings)
    var options = NATSConnectionOptions(servers: [server.url])
    options.credentials = .credentialsFile(userCreds)
    options.maximumReconnects = 2
    let admin = try JetStreamPublisher(connection: NATSConnection(options))
    try admin.addStream(JetStreamStreamSettings(name: "FLEET", subjects: ["fleet.>"]))

    let base = "nats://127.0.0.1:\(server.port)?subject=fleet.{host}"
    for (index, (credentials, delivers)) in [("creds_file=\(userCreds)", true), ("creds_file=\(strangerCreds)", false)]
      .enumerated()
    {
      let log = NATSOutputTests.Lines()
      let spool = try NATSOutputTests.temporaryDirectory()
      defer { try? FileManager.default.removeItem(atPath: spool.string) }
      let output = try NATSOutputTests.output(base + "&" + credentials, spool: spool, log: log, drainMilliseconds: 500)
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
        #expect(!log.all.joined().contains(user.seed))
      }
    }
    #expect(try admin.streamState("FLEET").messages == 5)
  }
}

import FlowsentryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A real rsyslog (Debian's rsyslogd) that a test starts in the foreground on loopback: it parses
/// each message as RFC 5424 (mmpstrucdata for the structured data, mmjsonparse for the body) and
/// writes one JSON object per message to a file the test reads.
final class Rsyslog {
  enum Input {
    case tcp
    case udp
    case relp
    /// TLS (RFC 5425) requiring a client certificate signed by the test's CA.
    case tls(TestCertificates)
  }

  static let binary = "/usr/sbin/rsyslogd"

  /// A receiver listening on `input`, for a test that needs one: skipped without rsyslogd, failed
  /// without it under `TestEnvironment.mustRunEverything`.
  static func started(
    _ input: Input, port: UInt16 = Rsyslog.freePort(), sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> Rsyslog {
    try TestEnvironment.require(.rsyslogd, sourceLocation: sourceLocation)
    let receiver = try Rsyslog(input, port: port)
    try receiver.start()
    return receiver
  }

  /// Whether rsyslogd is here; without it, under `TestEnvironment.mustRunEverything`, the test has
  /// failed. Tests that return when this is false pass without running: gate them with
  /// `.requires(.rsyslogd)` or start the receiver with `started` instead.
  static func available(sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
    guard let message = TestEnvironment.unmet([.rsyslogd]) else { return true }
    if TestEnvironment.mustRunEverything { Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation) }
    return false
  }

  let directory: URL
  let port: UInt16
  let input: Input
  private var process: ChildProcess?

  init(_ input: Input, port: UInt16 = Rsyslog.freePort()) throws {
    self.input = input
    self.port = port
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-rsyslog-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try configuration().write(to: directory.appendingPathComponent("rsyslog.conf"), atomically: true, encoding: .utf8)
  }

  deinit {
    stop()
    try? FileManager.default.removeItem(at: directory)
  }

  var outputFile: URL { directory.appendingPathComponent("messages.jsonl") }

  private func configuration() -> String {
    var global = #"global(workDirectory="\#(directory.path)" maxMessageSize="1m""#
    var inputLine: String
    var module: String
    switch input {
    case .tcp:
      module = #"module(load="imtcp")"#
      inputLine = #"input(type="imtcp" port="\#(port)" address="127.0.0.1" ruleset="in")"#
    case .udp:
      module = #"module(load="imudp")"#
      inputLine = #"input(type="imudp" port="\#(port)" address="127.0.0.1" ruleset="in")"#
    case .relp:
      module = #"module(load="imrelp")"#
      inputLine = #"input(type="imrelp" port="\#(port)" address="127.0.0.1" ruleset="in")"#
    case .tls(let certificates):
      global +=
        #" defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="\#(certificates.ca)""#
        + #" defaultNetstreamDriverCertFile="\#(certificates.serverCertificate)""#
        + #" defaultNetstreamDriverKeyFile="\#(certificates.serverKey)""#
      module =
        #"module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="x509/certvalid")"#
      inputLine = #"input(type="imtcp" port="\#(port)" address="127.0.0.1" ruleset="in")"#
    }
    return """
      \(global))
      \(module)
      module(load="mmpstrucdata")
      module(load="mmjsonparse")
      template(name="parsed" type="list" option.jsonf="on") {
        property(outname="msgid" name="msgid" format="jsonf")
        property(outname="pri" name="pri" format="jsonf")
        property(outname="hostname" name="hostname" format="jsonf")
        property(outname="app" name="app-name" format="jsonf")
        property(outname="procid" name="procid" format="jsonf")
        property(outname="timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
        property(outname="fields" name="$!" format="jsonf")
      }
      ruleset(name="in") {
        action(type="mmpstrucdata")
        action(type="mmjsonparse" cookie="")
        action(type="omfile" file="\(outputFile.path)" template="parsed")
      }
      \(inputLine)

      """
  }

  func start() throws {
    let process = try ChildProcess(
      Self.binary,
      [
        "-n", "-f", directory.appendingPathComponent("rsyslog.conf").path, "-i",
        directory.appendingPathComponent("rsyslog.pid").path,
      ], stdout: .discard)
    self.process = process
    // Listening once a connection (or, for UDP, a bind attempt) shows the port taken.
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
      if isListening() { return }
      guard process.isRunning else { break }
      usleep(50_000)
    }
    throw RsyslogError(log: errors)
  }

  /// Kills the receiver; omfile has written each message by the end of its transaction.
  func stop() {
    guard let process else { return }
    process.kill()
    _ = try? process.wait(timeout: .seconds(10))
    self.process = nil
  }

  var errors: String { process?.stderr ?? "" }

  /// Every message written so far, each parsed: the header fields and the parsed structured data and body.
  func messages() -> [[String: Any]] {
    guard let text = try? String(contentsOf: outputFile, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").compactMap { line in
      guard var object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
      if let fields = object["fields"] as? String,
        let parsed = try? JSONSerialization.jsonObject(with: Data(fields.utf8)) as? [String: Any]
      {
        object["fields"] = parsed
      }
      return object
    }
  }

  /// Waits until at least `count` messages were written (or the timeout passes); returns them.
  func waitForMessages(_ count: Int, timeout: TimeInterval = 20) -> [[String: Any]] {
    let deadline = Date().addingTimeInterval(timeout)
    var current = messages()
    while current.count < count && Date() < deadline {
      usleep(50_000)
      current = messages()
    }
    return current
  }

  private func isListening() -> Bool {
    switch input {
    case .udp:
      let descriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
      defer { close(descriptor) }
      var address = Self.loopback(port)
      let status = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
      }
      return status != 0
    case .tcp, .tls, .relp:
      let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      defer { close(descriptor) }
      var address = Self.loopback(port)
      return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
      }
    }
  }

  static func loopback(_ port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    return address
  }

  /// A port nothing listens on right now (the kernel's pick for a bound, closed socket).
  static func freePort() -> UInt16 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = loopback(0)
    _ = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
  }
}

extension Requirement {
  static let rsyslogd = executable(Rsyslog.binary)
  static let openssl = executable("/usr/bin/openssl")
}

struct RsyslogError: Error, CustomStringConvertible {
  var log: String
  var description: String { "rsyslogd did not start listening: \(log)" }
}

/// A CA, a server certificate for localhost and 127.0.0.1, and a client certificate, made with
/// openssl for one test and removed with it.
final class TestCertificates {
  let directory: URL
  var ca: String { directory.appendingPathComponent("ca.pem").path }
  var serverCertificate: String { directory.appendingPathComponent("server.pem").path }
  var serverKey: String { directory.appendingPathComponent("server-key.pem").path }
  var clientCertificate: String { directory.appendingPathComponent("client.pem").path }
  var clientKey: String { directory.appendingPathComponent("client-key.pem").path }
  /// A second CA that signed nothing here: a client trusting it must refuse the server.
  var otherCA: String { directory.appendingPathComponent("other-ca.pem").path }

  init() throws {
    try TestEnvironment.require(.openssl)
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-certs-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let script = """
      set -e
      cd "\(directory.path)"
      key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
      key ca-key.pem
      openssl req -x509 -new -key ca-key.pem -out ca.pem -days 2 -subj "/CN=flowsentry test CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
      key other-ca-key.pem
      openssl req -x509 -new -key other-ca-key.pem -out other-ca.pem -days 2 -subj "/CN=another CA"
      for role in server client; do
        key $role-key.pem
        openssl req -new -key $role-key.pem -out $role.csr -subj "/CN=$role"
        if [ $role = server ]; then usage=serverAuth; else usage=clientAuth; fi
        printf "subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=$usage\\nkeyUsage=digitalSignature\\n" > $role.ext
        openssl x509 -req -in $role.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out $role.pem -days 2 \
          -extfile $role.ext 2>/dev/null
      done
      """
    let result = try ChildProcess.run("/bin/sh", ["-c", script])
    guard result.termination == .exited(0) else {
      throw RsyslogError(log: "openssl failed to make test certificates (\(result.termination)): \(result.stderr)")
    }
  }

  deinit { try? FileManager.default.removeItem(at: directory) }
}

import FlowsentryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A real `nats-server` with JetStream that a test starts on loopback, with its storage in a
/// temporary directory; optionally one node of a cluster routed to its peers.
final class NATSServer {
  static let binary = "/usr/sbin/nats-server"

  struct Settings {
    var name = "n1"
    var port = NATSServer.freePort()
    var maximumPayload: Int?
    /// An `authorization { … }` block's body, e.g. `user: a, password: b`.
    var authorization: String?
    var clusterPort: UInt16?
    var routes: [UInt16] = []
    /// Configuration appended as it is (a `tls { … }` block).
    var extra: String?
  }

  let settings: Settings
  let directory: URL
  private var child: ChildProcess?
  /// What servers this one killed wrote to stderr, so that `log` spans its restarts.
  private var earlierLogs = ""

  var port: UInt16 { settings.port }
  var url: String { "nats://127.0.0.1:\(settings.port)" }

  init(_ settings: Settings = Settings(), directory: URL? = nil) throws {
    self.settings = settings
    self.directory =
      directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("fs-nats-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    try configuration().write(to: configurationFile, atomically: true, encoding: .utf8)
    try start()
  }

  deinit {
    kill()
    try? FileManager.default.removeItem(at: directory)
  }

  private var configurationFile: URL { directory.appendingPathComponent("nats.conf") }

  private func configuration() -> String {
    var text = """
      server_name: \(settings.name)
      listen: 127.0.0.1:\(settings.port)
      jetstream { store_dir: "\(directory.appendingPathComponent("store").path)", max_memory_store: 64MB, max_file_store: 1GB }

      """
    if let maximum = settings.maximumPayload { text += "max_payload: \(maximum)\n" }
    if let authorization = settings.authorization { text += "authorization { \(authorization) }\n" }
    if let extra = settings.extra { text += extra + "\n" }
    if let clusterPort = settings.clusterPort {
      let routes = settings.routes.map { "nats-route://127.0.0.1:\($0)" }.joined(separator: ", ")
      text += "cluster { name: fs, listen: 127.0.0.1:\(clusterPort), routes: [\(routes)] }\n"
    }
    return text
  }

  func start() throws {
    child = try ChildProcess(Self.binary, ["-c", configurationFile.path], stdout: .discard)
    try waitListening()
  }

  /// SIGKILL, as a crash.
  func kill() {
    guard let child else { return }
    child.kill()
    // Killed, it ends at once; the wait's own deadline only bounds a stuck reap.
    _ = try? child.wait(timeout: .seconds(10))
    earlierLogs += child.stderr
    self.child = nil
  }

  /// What this server wrote to stderr, across its restarts.
  var log: String { earlierLogs + (child?.stderr ?? "") }

  private func waitListening() throws {
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
      if Self.connects(to: settings.port) { return }
      usleep(20_000)
    }
    throw NATSServerError.notListening(settings.port, log)
  }

  static func connects(to port: UInt16) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
      }
    }
  }

  /// A loopback port nothing listens on now.
  static func freePort() -> UInt16 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    precondition(descriptor >= 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0
      }
    }
    precondition(bound)
    return UInt16(bigEndian: address.sin_port)
  }
}

enum NATSServerError: Error {
  case notListening(UInt16, String)
}

/// Waits, polling, until `condition` holds or the time is up.
func eventually(seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
  let deadline = Date().addingTimeInterval(seconds)
  while Date() < deadline {
    if try condition() { return true }
    usleep(20_000)
  }
  return try condition()
}

extension Requirement {
  static let natsServer = executable(NATSServer.binary)
}

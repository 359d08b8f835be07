import FlowsentryCapture
import FlowsentryTestSupport
import Foundation

/// A child cgroup that a test creates under the cgroup v2 mount and removes afterwards. The test
/// process joins it only while it creates sockets: a socket belongs to its creator's cgroup for life.
final class TestCgroup {
  let path: String
  private let home: String
  private static let prefix = "flowsentry-test-"

  init() throws {
    let mount = try requireValue(CgroupDirectory.cgroup2Mount(), "no cgroup v2 mount")
    Self.removeStale(in: mount)
    path = "\(mount)/\(Self.prefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    home = mount + Self.currentRelativePath()
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
  }

  /// Runs `body` with this process inside the cgroup, then moves it back home.
  func withMembership<T>(_ body: () throws -> T) throws -> T {
    try Self.move(getpid(), to: path)
    defer { try? Self.move(getpid(), to: home) }
    return try body()
  }

  func add(pid: Int32) throws { try Self.move(pid, to: path) }

  /// A socket of this cgroup's.
  func socket(_ family: TestSocket.Family) throws -> TestSocket {
    try withMembership { try TestSocket(family) }
  }

  /// A listening socket of this cgroup's on `host` (the family's loopback by default), any port.
  func listener(_ family: TestSocket.Family, on host: String? = nil) throws -> TestSocket {
    let listener = try socket(family)
    try listener.bind(host ?? family.loopback)
    try listener.listen()
    return listener
  }

  /// Runs a command as a member of this cgroup from its first instruction (a shell joins, then
  /// execs it); returns its stdout, throws unless it exits with 0.
  @discardableResult
  func run(_ executable: String, _ arguments: [String]) throws -> String {
    try ChildProcess.output(
      of: "/bin/sh", ["-c", #"echo $$ > "$0/cgroup.procs" && exec "$@""#, path, executable] + arguments)
  }

  func remove() {
    for _ in 0..<50 {
      if rmdir(path) == 0 || errno == ENOENT { return }
      // Processes still leaving (a killed child): give them a moment.
      usleep(100_000)
    }
  }

  deinit { remove() }

  private static func move(_ pid: Int32, to directory: String) throws {
    try "\(pid)\n".write(toFile: directory + "/cgroup.procs", atomically: false, encoding: .utf8)
  }

  /// This process's cgroup v2 path ("0::/..." in /proc/self/cgroup).
  private static func currentRelativePath() -> String {
    let text = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
    let line = text.split(separator: "\n").first { $0.hasPrefix("0::") }
    let relative = line.map { String($0.dropFirst(3)) } ?? "/"
    return relative == "/" ? "" : relative
  }

  /// Leftovers of a test that crashed: empty, so removable.
  private static func removeStale(in mount: String) {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: mount)) ?? []
    for entry in entries where entry.hasPrefix(prefix) {
      let owner = entry.dropFirst(prefix.count).split(separator: "-").first.flatMap { Int32($0) }
      if let owner, kill(owner, 0) != 0 { rmdir("\(mount)/\(entry)") }
    }
  }
}

struct MissingValue: Error, CustomStringConvertible {
  var description: String
}

func requireValue<T>(_ value: T?, _ message: String) throws -> T {
  guard let value else { throw MissingValue(description: message) }
  return value
}

import FlowsentryCore
import FlowsentryTestSupport
import Foundation
import Synchronization
import Testing

/// A "remote" peer: a test host in a network namespace of its own, reached over a veth pair with
/// documentation addresses (198.51.100.0/24). Traffic crosses a real interface, not loopback.
@Suite(.serialized, .requires(.root, .cgroup2, .ip, .python3), .testHostsInTurn)
struct RemotePeerTests {
  @Test func connectionsToAndFromANamespacedHost() async throws {
    let host = try TestHost()
    defer { host.remove() }
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let capture = try LiveCapture(cgroup: cgroup)

    // Incoming: the peer connects to our listener and closes first.
    let listener = try cgroup.withMembership { try TestSocket(.v4) }
    try listener.bind(TestHost.localAddress)
    try listener.listen()
    let server = listener.localEndpoint
    let peerClient = try host.runPython(
      """
      import socket
      s = socket.create_connection(("\(server.address)", \(server.port)))
      print(s.getsockname()[1], flush=True)
      s.close()
      """)
    let accepted = try listener.accept()
    accepted.readToEnd()
    accepted.close()
    let peerPort = try #require(UInt16(try peerClient.finish().trimmingCharacters(in: .whitespacesAndNewlines)))
    let peer = Endpoint(IPAddress(TestHost.peerAddress)!, peerPort)

    // Outgoing: we connect to the peer's server, which closes first.
    let peerServer = try host.runPython(
      """
      import socket
      l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      l.bind(("\(TestHost.peerAddress)", 0)); l.listen(1)
      print(l.getsockname()[1], flush=True)
      c, _ = l.accept(); c.close(); l.close()
      """)
    let serverPort = try #require(UInt16(try peerServer.firstLine()))
    let remoteServer = Endpoint(IPAddress(TestHost.peerAddress)!, serverPort)
    let client = try cgroup.withMembership { try TestSocket(.v4) }
    #expect(try client.connect(to: remoteServer) == 0)
    let clientEndpoint = client.localEndpoint
    client.readToEnd()
    client.close()
    _ = try peerServer.finish()

    let expected: [EventShape] = [
      .begin(.incoming, from: peer, to: server),
      .end(.incoming, .fin, by: .remote, from: peer, to: server),
      .begin(.outgoing, from: clientEndpoint, to: remoteServer),
      .end(.outgoing, .fin, by: .remote, from: remoteServer, to: clientEndpoint),
    ]
    let events = try await capture.events(count: expected.count)
    await capture.stop()
    #expect(events.map(\.shape).sorted() == expected.sorted())
  }
}

extension RemotePeerTests {
  /// A flow that began before the monitor, inside another network namespace: its end is oriented by
  /// the listener in that namespace (the kernel looks there), not by this namespace's sockets.
  @Test func aFlowOlderThanTheMonitorInAnotherNamespaceIsOrientedByItsOwnListener() async throws {
    let host = try TestHost()
    defer { host.remove() }
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let trigger = FileManager.default.temporaryDirectory.appendingPathComponent("fs-go-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: trigger) }
    let peer = try host.runPython(
      """
      import os, socket, time
      l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
      c = socket.create_connection(l.getsockname()); s, _ = l.accept()
      print(l.getsockname()[1], c.getsockname()[1], flush=True)
      while not os.path.exists("\(trigger)"): time.sleep(0.02)
      c.close(); s.recv(16); s.close(); l.close()
      """, in: cgroup)
    let ports = try peer.firstLine().split(separator: " ").compactMap { UInt16($0) }
    let server = Endpoint(IPAddress("127.0.0.1")!, try #require(ports.first))
    let client = Endpoint(IPAddress("127.0.0.1")!, try #require(ports.last))
    // Without the socket walk, which would make sock_ops follow them (FlowUpdateLiveTests).
    let capture = try LiveCapture(cgroup: cgroup, walksSockets: false)
    FileManager.default.createFile(atPath: trigger, contents: Data())
    _ = try peer.finish()

    let expected: [EventShape] = [
      .end(.outgoing, .fin, by: .local, from: client, to: server),
      .end(.incoming, .fin, by: .remote, from: client, to: server),
    ]
    let events = try await capture.events(count: expected.count)
    await capture.stop()
    #expect(events.map(\.shape).sorted() == expected.sorted())
    #expect(events.allSatisfy { $0.durationNanoseconds == nil }, "their begins predate the monitor")
  }
}

/// A network namespace joined to this one by a veth pair: 198.51.100.1 here, 198.51.100.2 there.
/// Not 203.0.113.0/24: the host's route to a test host takes the whole /24, and on some machines
/// here a real service (the package proxy) has an address in that one. Every run's hosts use these
/// addresses, so they are made only in a suite's turn (`.testHostsInTurn`).
final class TestHost {
  /// The addresses of the two ends and the prefix the host routes to the peer.
  struct Addressing {
    var local: String
    var peer: String
    var prefixLength: Int
  }
  /// What most suites use; a suite that must share no route with them takes its own (the volume
  /// tests' /30).
  static let standard = Addressing(local: "198.51.100.1", peer: "198.51.100.2", prefixLength: 24)
  static var localAddress: String { standard.local }
  static var peerAddress: String { standard.peer }
  let namespace: String
  let hostLink: String
  let peerLink: String

  /// Their tag (`TestHostTag`): the run that made them, then a count, so that runs in two processes
  /// never pick the same names and a run tells its own and gone runs' leftovers from a live run's.
  let tag: String
  private let heldTag: TestHostTag
  private let removed = Atomic<Bool>(false)
  /// Hosts made by this run: the next one's count starts from it, so that a name just given up is
  /// not given again at once.
  private static let made = Atomic<Int>(0)
  /// The tags of this process's hosts not yet removed.
  private static let live = Mutex<Set<TestHostTag>>([])

  init(_ addressing: Addressing = TestHost.standard) throws {
    guard TestHostTurnTrait.suitesInTurn.load(ordering: .relaxed) > 0 else {
      throw TestHostTurnTrait.LockFailure(description: "a suite that makes test hosts takes .testHostsInTurn")
    }
    Self.removeLeftovers()
    let thisRun = try TestHostRun.current.get()
    let first = Self.made.add(1, ordering: .relaxed).oldValue
    let claimed = Self.live.withLock { live in
      let free = (first..<first + TestHostTag.countLimit).lazy
        .map { TestHostTag(pid: thisRun.pid, startTime: thisRun.startTime, count: $0 % TestHostTag.countLimit) }
        .first { !live.contains($0) }
      if let free { live.insert(free) }
      return free
    }
    guard let claimed else {
      throw TestHostTurnTrait.LockFailure(description: "this run holds \(TestHostTag.countLimit) test hosts already")
    }
    heldTag = claimed
    tag = claimed.description
    namespace = "fs-test-\(tag)"
    hostLink = "fsh\(tag)"
    peerLink = "fsp\(tag)"
    do {
      try run("/usr/sbin/ip", ["netns", "add", namespace])
      try run("/usr/sbin/ip", ["link", "add", hostLink, "type", "veth", "peer", "name", peerLink])
      try run("/usr/sbin/ip", ["link", "set", peerLink, "netns", namespace])
      try run("/usr/sbin/ip", ["addr", "add", "\(addressing.local)/\(addressing.prefixLength)", "dev", hostLink])
      try run("/usr/sbin/ip", ["link", "set", hostLink, "up"])
      try run(
        "/usr/sbin/ip",
        ["-n", namespace, "addr", "add", "\(addressing.peer)/\(addressing.prefixLength)", "dev", peerLink])
      try run("/usr/sbin/ip", ["-n", namespace, "link", "set", peerLink, "up"])
      try run("/usr/sbin/ip", ["-n", namespace, "link", "set", "lo", "up"])
    } catch {
      remove()
      throw error
    }
  }

  /// Runs a Python script inside the namespace, in the background.
  func runPython(_ script: String) throws -> PeerProcess {
    try PeerProcess("/usr/sbin/ip", ["netns", "exec", namespace, "python3", "-c", script])
  }

  /// Runs a Python script inside the namespace as a member of `cgroup` (a process the monitor
  /// watches although its sockets live in another network namespace), in the background.
  func runPython(_ script: String, in cgroup: TestCgroup) throws -> PeerProcess {
    try PeerProcess(
      "/bin/sh",
      [
        "-c", "echo $$ > \"$0/cgroup.procs\" && exec ip netns exec \"$1\" python3 -c \"$2\"", cgroup.path, namespace,
        script,
      ])
  }

  /// Runs a Python script with Debian's interpreter (the one python3-scapy installs for), in the background.
  func runScapy(_ script: String) throws -> PeerProcess {
    try PeerProcess("/usr/sbin/ip", ["netns", "exec", namespace, "/usr/bin/python3", "-c", script])
  }

  /// Takes the test host's end of the link down (it stops answering) or up again.
  func setLink(up: Bool) throws {
    try run("/usr/sbin/ip", ["-n", namespace, "link", "set", peerLink, up ? "up" : "down"])
  }

  /// A run killed mid-test (a CI timeout, ^C) leaves its namespace and link behind, and their route
  /// would take this run's traffic. What this run made and no longer holds goes, and what a run that
  /// is gone made; another live run's stays. Names without a run (made before they had one) go once
  /// older than any run.
  static func removeLeftovers() {
    let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
    for name in namespaces where name.hasPrefix("fs-test-") {
      let tag = name.dropFirst("fs-test-".count)
      if let isLeftover = isLeftover(tag) {
        guard isLeftover else { continue }
      } else {
        guard
          let modified = try? FileManager.default.attributesOfItem(atPath: "/run/netns/\(name)")[.modificationDate]
            as? Date, Date().timeIntervalSince(modified) > 30 * 60
        else { continue }
      }
      _ = try? run("/usr/sbin/ip", ["link", "del", "fsh" + tag])
      _ = try? run("/usr/sbin/ip", ["netns", "del", name])
    }
    // A host link outlives its namespace's name while a process still runs in the namespace.
    let links = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []
    for link in links where link.hasPrefix("fsh") {
      guard isLeftover(link.dropFirst("fsh".count)) == true else { continue }
      _ = try? run("/usr/sbin/ip", ["link", "del", link])
    }
  }

  /// Whether the hosts tagged `tag` are leftovers; nil for a tag that names no run. Without this
  /// run's start time nothing is a leftover: a live run's hosts could not be told from a gone one's.
  private static func isLeftover(_ tag: Substring) -> Bool? {
    if let parsed = TestHostTag(tag) {
      guard case .success(let thisRun) = TestHostRun.current else { return false }
      return parsed.isLeftover(thisRun: thisRun, held: live.withLock { $0 }, lookup: ProcessLookup.of)
    }
    return legacyOwner(of: tag).map(isLegacyLeftover)
  }

  /// The pid in a tag `pid-count` of older code, which named hosts by pid alone.
  private static func legacyOwner(of tag: Substring) -> Int32? {
    let parts = tag.split(separator: "-", omittingEmptySubsequences: false)
    guard parts.count == 2, let pid = Int32(parts[0]), pid > 0, Int(parts[1]) != nil else { return nil }
    return pid
  }

  /// A `pid-count` tag's hosts are leftovers when its pid is this run's (which makes none), or is
  /// gone, or is another program's (its command is not this run's): by pid alone, the best guess.
  private static func isLegacyLeftover(owner: Int32) -> Bool {
    if owner == getpid() { return true }
    guard kill(owner, 0) == 0 || errno == EPERM else { return errno == ESRCH }
    return command(of: owner) != command(of: getpid())
  }

  private static func command(of pid: Int32) -> String? {
    try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)
  }

  /// Once: the count may name another host of this run afterwards.
  func remove() {
    guard !removed.exchange(true, ordering: .relaxed) else { return }
    _ = try? run("/usr/sbin/ip", ["link", "del", hostLink])
    _ = try? run("/usr/sbin/ip", ["netns", "del", namespace])
    Self.live.withLock { _ = $0.remove(heldTag) }
  }

  deinit { remove() }
}

/// A process on the test host whose stdout the test reads.
final class PeerProcess {
  private let process: SpawnedProcess
  private var finished = false

  init(_ executable: String, _ arguments: [String]) throws {
    process = try SpawnedProcess(executable, arguments, captureOutput: true)
  }

  func firstLine() throws -> String {
    var line: [UInt8] = []
    var byte: UInt8 = 0
    while let output = process.output, read(output, &byte, 1) == 1, byte != UInt8(ascii: "\n") {
      line.append(byte)
    }
    return String(decoding: line, as: UTF8.self)
  }

  func finish() throws -> String {
    finished = true
    let result = process.finish()
    guard result.status == 0 else { throw MissingValue(description: "peer process exited with \(result.status)") }
    return result.output
  }

  deinit { if !finished { process.terminate() } }
}

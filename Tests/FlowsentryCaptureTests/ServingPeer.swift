import FlowsentryCore
import Foundation

/// What a live test against the test host's peer sets up: the test host, a test cgroup to act from,
/// and optionally a server on the peer (a Python script that prints `ready` once it serves, waited
/// for here). `remove()` removes the host and the cgroup; a failure while setting up removes what
/// was made. The server lives as long as the value (it is killed when released).
struct ServingPeer {
  let host: TestHost
  let cgroup: TestCgroup
  private let server: PeerProcess?

  struct NotReady: Error, CustomStringConvertible {
    var description: String
  }

  init(server script: String? = nil) throws {
    let host = try TestHost()
    var undo: [() -> Void] = [{ host.remove() }]
    do {
      let cgroup = try TestCgroup()
      undo.insert({ cgroup.remove() }, at: 0)
      var server: PeerProcess?
      if let script {
        let process = try host.runPython(script)
        let first = try process.firstLine()
        guard first == "ready" else { throw NotReady(description: "the peer's server said \(first)") }
        server = process
      }
      (self.host, self.cgroup, self.server) = (host, cgroup, server)
    } catch {
      for step in undo { step() }
      throw error
    }
  }

  func remove() {
    cgroup.remove()
    host.remove()
  }
}

extension ServingPeer {
  /// A peer whose DNS server on `port` reads every question and answers none: a DNS firewall
  /// dropping them, for the tests of questions given up on.
  static func silentResolver(port: UInt16) throws -> ServingPeer {
    try ServingPeer(
      server: """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("\(TestHost.peerAddress)", \(port)))
        print("ready", flush=True)
        while True:
            s.recv(4096)
        """)
  }

  /// One A question for `name`, sent over UDP from a process in the cgroup to the peer's `port`;
  /// no answer is waited for.
  func ask(_ name: String, port: UInt16) throws {
    _ = try cgroup.run(
      "/usr/bin/python3",
      [
        "-c",
        """
        import socket, struct
        name = b"".join(bytes([len(l)]) + l for l in b"\(name)".split(b".")) + b"\\0"
        query = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(query, ("\(TestHost.peerAddress)", \(port)))
        """,
      ])
  }
}

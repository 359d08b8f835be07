import FlowsentryCore
import Foundation

/// What the live tests of name rules share: a test host whose peer serves TCP 443 (accepting and
/// closing), dnsmasq answering `records` on a port of its own, and a test cgroup to act from.
/// `remove()` stops and removes all of it; a failure while setting up removes what was made.
struct ResolvingPeer {
  let host: TestHost
  let cgroup: TestCgroup
  let resolver: Resolver
  var dnsPort: UInt16 { resolver.port }
  /// Held so that the server lives as long as the test (it is killed when released).
  private let peerServer: PeerProcess

  struct NotReady: Error, CustomStringConvertible {
    var description: String
  }

  /// `records`: dnsmasq options (`--address=/name/ADDRESS`, `--host-record`, `--cname`); the name
  /// `Resolver` asks to know it is up, web.fs.test, is added.
  init(records: [String], backlog: Int = 16) throws {
    let host = try TestHost()
    var undo: [() -> Void] = [{ host.remove() }]
    do {
      let cgroup = try TestCgroup()
      undo.insert({ cgroup.remove() }, at: 0)
      let resolver = try Resolver(
        address: DNSResolutionTests.resolverAddress, port: UInt16.random(in: 20_000...40_000),
        records: ["--address=/web.fs.test/\(TestHost.peerAddress)"] + records)
      undo.insert({ resolver.stop() }, at: 0)
      let peerServer = try host.runPython(
        """
        import socket
        l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        l.bind(("\(TestHost.peerAddress)", 443)); l.listen(\(backlog))
        print("ready", flush=True)
        while True:
            c, _ = l.accept(); c.close()
        """)
      let first = try peerServer.firstLine()
      guard first == "ready" else { throw NotReady(description: "the peer's server said \(first)") }
      (self.host, self.cgroup, self.resolver, self.peerServer) = (host, cgroup, resolver, peerServer)
    } catch {
      for step in undo { step() }
      throw error
    }
  }

  func remove() {
    resolver.stop()
    cgroup.remove()
    host.remove()
  }

  /// `dig +short` of `name` from inside the cgroup.
  @discardableResult
  func lookUp(_ name: String) throws -> String {
    try cgroup.run("/usr/bin/dig", ["+short", "@\(resolver.address)", "-p", String(dnsPort), name])
  }

  /// A connection from the cgroup to the peer's port 443, read to its end and closed; the
  /// connect(2) result (0, or an errno).
  func connectToPeer() throws -> Int32 {
    let client = try cgroup.socket(.v4)
    let connected = try client.connect(to: Endpoint(IPAddress(TestHost.peerAddress)!, 443))
    if connected == 0 { client.readToEnd() }
    client.close()
    return connected
  }
}

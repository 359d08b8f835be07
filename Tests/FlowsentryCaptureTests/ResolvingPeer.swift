import FlowsentryCore
import Foundation

/// What the live tests of name rules share: a `ServingPeer` whose peer serves TCP 443 (accepting and
/// closing), and dnsmasq answering `records` on a port of its own. `remove()` stops and removes all
/// of it; a failure while setting up removes what was made.
struct ResolvingPeer {
  let peer: ServingPeer
  let resolver: Resolver
  var host: TestHost { peer.host }
  var cgroup: TestCgroup { peer.cgroup }
  var dnsPort: UInt16 { resolver.port }

  /// `records`: dnsmasq options (`--address=/name/ADDRESS`, `--host-record`, `--cname`); the name
  /// `Resolver` asks to know it is up, web.fs.test, is added.
  init(records: [String], backlog: Int = 16) throws {
    let peer = try ServingPeer(
      server: """
        import socket
        l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        l.bind(("\(TestHost.peerAddress)", 443)); l.listen(\(backlog))
        print("ready", flush=True)
        while True:
            c, _ = l.accept(); c.close()
        """)
    do {
      resolver = try Resolver(
        address: DNSResolutionTests.resolverAddress, port: UInt16.random(in: 20_000...40_000),
        records: ["--address=/web.fs.test/\(TestHost.peerAddress)"] + records)
    } catch {
      peer.remove()
      throw error
    }
    self.peer = peer
  }

  func remove() {
    resolver.stop()
    peer.remove()
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

import FlowsentryCore
import FlowsentryRules
import FlowsentryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The sensor is attacked by the traffic it watches. A test host in a network namespace sends crafted
/// packets (scapy), with spoofed sources only inside its own 198.51.100.0/24 on the veth: the host's
/// answers to them find no neighbour and never leave the machine. None of them may create, end or
/// name a flow; the counters must show what was ignored.
@Suite(.serialized, .requires(.root, .cgroup2, .ip, .python3), .testHostsInTurn)
struct AttackTests {
  static let spoofedSources = (100..<140).map { "198.51.100.\($0)" }
  static let dnsSYNSource = "198.51.100.60"
  static let forgedSYNACKSource = "198.51.100.50"

  @Test(.requires(.pythonModule("scapy", interpreter: "/usr/bin/python3")))
  func craftedPacketsNeitherMakeNorEndNorNameFlows() async throws {
    let host = try TestHost()
    defer { host.remove() }
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let capture = try LiveCapture(cgroup: cgroup)

    let listener = try cgroup.withMembership { try TestSocket(.v4) }
    try listener.bind(TestHost.localAddress)
    try listener.listen()
    let server = listener.localEndpoint
    let udp = try cgroup.withMembership { try UDPTestSocket(bindTo: TestHost.localAddress) }

    // A live connection from the peer; it reports its port and its next sequence number (read
    // through TCP_REPAIR), then waits for our "bye" before closing.
    let peer = try host.runPython(
      """
      import socket
      s = socket.create_connection(("\(server.address)", \(server.port)))
      s.setsockopt(6, 19, 1); s.setsockopt(6, 20, 2)
      seq = s.getsockopt(6, 21) & 0xffffffff
      s.setsockopt(6, 19, 0)
      print(s.getsockname()[1], seq, flush=True)
      s.recv(16)
      s.close()
      """)
    let accepted = try listener.accept()
    let fields = try peer.firstLine().split(separator: " ")
    let peerPort = try #require(fields.first.flatMap { UInt16($0) })
    let peerSequence = try #require(fields.last.flatMap { UInt32($0) })
    let peerEndpoint = Endpoint(IPAddress(TestHost.peerAddress)!, peerPort)

    let spoofed = Self.spoofedSources.map { "\"\($0)\"" }.joined(separator: ",")
    let attacker = try host.runScapy(
      """
      from scapy.all import IP, TCP, UDP, DNS, DNSQR, DNSRR, Raw, send, conf
      import struct
      conf.verb = 0
      server, port, peer, peer_port, seq = "\(server.address)", \(server.port), "\(TestHost.peerAddress)", \(peerPort), \(peerSequence)
      # A SYN+ACK to the listener: no SYN was ever sent.
      send(IP(src="\(Self.forgedSYNACKSource)", dst=server)/TCP(sport=40001, dport=port, flags="SA", seq=1000, ack=2000))
      # On the live connection: RST and FIN far outside the window, and an RST in the window but not exact.
      send(IP(src=peer, dst=server)/TCP(sport=peer_port, dport=port, flags="R", seq=(seq + 0x40000000) & 0xffffffff))
      send(IP(src=peer, dst=server)/TCP(sport=peer_port, dport=port, flags="FA", seq=(seq + 0x40000000) & 0xffffffff, ack=1))
      send(IP(src=peer, dst=server)/TCP(sport=peer_port, dport=port, flags="R", seq=(seq + 100) & 0xffffffff))
      # Half-open SYNs from 40 spoofed sources of the test's own /24.
      send([IP(src=a, dst=server)/TCP(sport=20000 + i, dport=port, flags="S", seq=7) for i, a in enumerate([\(spoofed)])])
      # Unsolicited DNS answers naming the peer, over UDP to a bound port and inside a TCP SYN.
      answer = DNS(id=4242, qr=1, aa=1, qd=DNSQR(qname="evil.fs.test"), an=DNSRR(rrname="evil.fs.test", type="A", rdata=peer, ttl=300))
      for i in range(4):
          send(IP(src=peer, dst=server)/UDP(sport=53, dport=\(udp.port))/answer)
      raw = bytes(answer)
      send(IP(src="\(Self.dnsSYNSource)", dst=server)/TCP(sport=53, dport=port, flags="S", seq=9)/Raw(struct.pack("!H", len(raw)) + raw))
      print("sent", flush=True)
      """)
    #expect(try attacker.finish().contains("sent"))

    // The half-open attempts settle (3 s without a SYN from that remote) and are reported.
    let halfOpenRemotes = Set(Self.spoofedSources + [Self.dnsSYNSource])
    let deadline = ContinuousClock.now + .seconds(10)
    while Set(capture.halfOpen.map(\.remote.address.description)).isSuperset(of: halfOpenRemotes) == false
      && ContinuousClock.now < deadline
    {
      try await Task.sleep(for: .milliseconds(100))
    }

    // Only now does the live connection end, for real: the peer closes after our "bye".
    try accepted.send("bye")
    accepted.readToEnd()
    accepted.close()
    _ = try peer.finish()

    let expected: [EventShape] = [
      .begin(.incoming, from: peerEndpoint, to: server),
      .end(.incoming, .fin, by: .remote, from: peerEndpoint, to: server),
    ]
    let events = try await capture.events(count: expected.count)
    let statistics = capture.session.statistics
    await capture.stop()

    #expect(events.map(\.shape).sorted() == expected.sorted())
    let end = try #require(events.first { $0.name == .netFlowTCPEnd })
    #expect(end.durationNanoseconds != nil, "the live connection kept its begin")
    #expect(events.allSatisfy { $0.sourceNames.isEmpty && $0.destinationNames.isEmpty }, "no forged name")
    #expect(capture.dnsEvents.isEmpty)
    #expect(capture.dnsCounters.unsolicited == 5)
    #expect(capture.dnsCounters.cache.entries == 0)
    #expect(statistics.kernel.unexpectedSYNACKs >= 1)
    #expect(statistics.kernel.incomingSYNs >= 42)
    // Counted per remote: each spoofed source once, none of them a flow.
    var attemptsByRemote: [String: UInt64] = [:]
    for attempt in capture.halfOpen {
      attemptsByRemote[attempt.remote.address.description, default: 0] += attempt.attempts ?? 0
    }
    for source in halfOpenRemotes { #expect(attemptsByRemote[source] == 1, "half-open attempts from \(source)") }
    #expect(attemptsByRemote[TestHost.peerAddress] == nil, "the peer's real handshake is not half-open")
    #expect(capture.counters.endsWithoutBegin == 0)

    // The shipped rules over all of it: the flood is seen for what it is (FS-NET-008); the only
    // other alert may be the real connection to an unlisted port (FS-NET-003), from the real peer.
    let engine = RuleEngine(rules: try RuleLoader.load(paths: [RuleAlertTests.shippedRules]))
    var alerts: [Alert] = []
    let observed = (events + capture.halfOpen).sorted { $0.timestamp < $1.timestamp }
    for event in observed { engine.process(.flow(event), at: event.timestamp, into: &alerts) }
    #expect(alerts.filter { $0.ruleID == "FS-NET-008" }.count == 1)
    let others = alerts.filter { $0.ruleID != "FS-NET-008" }
    #expect(others.allSatisfy { $0.ruleID == "FS-NET-003" }, "\(others.map(\.ruleID))")
    let remotes = others.flatMap(\.events).compactMap { event -> String? in
      if case .flow(let flow) = event { return flow.remote.address.description }
      return nil
    }
    #expect(remotes.allSatisfy { $0 == TestHost.peerAddress }, "alerts about forged addresses: \(remotes)")
  }

  @Test func aConnectionThatDiesByTimeoutGetsItsEnd() async throws {
    let host = try TestHost()
    defer { host.remove() }
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let capture = try LiveCapture(cgroup: cgroup)

    let peerServer = try host.runPython(
      """
      import socket, time
      l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      l.bind(("\(TestHost.peerAddress)", 0)); l.listen(1)
      print(l.getsockname()[1], flush=True)
      c, _ = l.accept(); time.sleep(30)
      """)
    let serverPort = try #require(UInt16(try peerServer.firstLine()))
    let remote = Endpoint(IPAddress(TestHost.peerAddress)!, serverPort)
    let client = try cgroup.withMembership { try TestSocket(.v4) }
    var userTimeoutMilliseconds: UInt32 = 1000
    setsockopt(
      client.descriptor, Int32(IPPROTO_TCP), TCP_USER_TIMEOUT, &userTimeoutMilliseconds,
      socklen_t(MemoryLayout<UInt32>.size))
    #expect(try client.connect(to: remote) == 0)
    let local = client.localEndpoint

    // The test host stops answering; what we send is retransmitted until the stack gives up.
    try host.setLink(up: false)
    try client.send("are you there?")
    let expected: [EventShape] = [
      .begin(.outgoing, from: local, to: remote),
      .end(.outgoing, .timeout, by: .local, from: local, to: remote),
    ]
    let events = try await capture.events(count: expected.count, timeout: .seconds(15))
    await capture.stop()
    client.close()
    #expect(events.map(\.shape).sorted() == expected.sorted())
  }
}

extension AttackTests {
  /// Connections a server accepts through SYN cookies (every one, with tcp_syncookies=2: no request
  /// socket exists between SYN and ACK) get their begin, direction and process like any other.
  @Test func connectionsAcceptedThroughSYNCookiesBegin() async throws {
    let host = try TestHost()
    defer { host.remove() }
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    try run("/usr/sbin/ip", ["netns", "exec", host.namespace, "sysctl", "-q", "-w", "net.ipv4.tcp_syncookies=2"])
    let capture = try LiveCapture(cgroup: cgroup)

    // The server lives in the test host's namespace and in the monitored cgroup.
    let server = try host.runPython(
      """
      import socket
      l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      l.bind(("\(TestHost.peerAddress)", 0)); l.listen(8)
      print(l.getsockname()[1], flush=True)
      for _ in range(3):
          c, _ = l.accept(); c.recv(16); c.close()
      """, in: cgroup)
    let port = try #require(UInt16(try server.firstLine()))
    let serverEndpoint = Endpoint(IPAddress(TestHost.peerAddress)!, port)
    var clients: [Endpoint] = []
    for _ in 0..<3 {
      let client = try TestSocket(.v4)
      #expect(try client.connect(to: serverEndpoint) == 0)
      clients.append(client.localEndpoint)
      client.close()
    }
    _ = try server.finish()
    let events = try await capture.events(count: 6)
    await capture.stop()

    let begins = events.filter { $0.name == .netFlowTCPBegin }
    #expect(Set(begins.map(\.shape)) == Set(clients.map { EventShape.begin(.incoming, from: $0, to: serverEndpoint) }))
    #expect(begins.allSatisfy { $0.process?.command == "python3" })
    #expect(events.filter { $0.name == .netFlowTCPEnd && $0.durationNanoseconds != nil }.count == 3)
    // The cookies really were used: the namespace's own counter says so.
    let netstat = try run("/usr/sbin/ip", ["netns", "exec", host.namespace, "cat", "/proc/net/netstat"])
    #expect(try Self.tcpExtension("SyncookiesRecv", in: netstat) >= 3)
  }

  static func tcpExtension(_ name: String, in netstat: String) throws -> Int {
    let lines = netstat.split(separator: "\n").filter { $0.hasPrefix("TcpExt:") }
    let names = try #require(lines.first).split(separator: " ")
    let values = try #require(lines.dropFirst().first).split(separator: " ")
    let index = try #require(names.firstIndex { $0 == name })
    return try #require(Int(values[index]))
  }
}

extension AttackTests {
  /// The parser follows up to 8 IPv6 extension headers; the kernel accepts more (it has no such
  /// limit for Destination Options headers). An answer behind 9 is delivered to the socket, and the
  /// eBPF parser counts it as unparsed instead of skipping it silently; behind 8 it is parsed (and,
  /// asked by nobody, refused as unsolicited).
  @Test func ipv6ExtensionHeadersBeyondTheParserAreCounted() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let capture = try LiveCapture(cgroup: cgroup)
    let udp = try cgroup.withMembership { try UDPTestSocket(bindTo: "::1") }

    let sender = try PeerProcess(
      "/usr/bin/python3",
      [
        "-c",
        """
        from scapy.all import IPv6, IPv6ExtHdrDestOpt, UDP, DNS, DNSQR, DNSRR, send, conf
        conf.verb = 0
        answer = DNS(id=99, qr=1, qd=DNSQR(qname="deep.fs.test"), an=DNSRR(rrname="deep.fs.test", type="A", rdata="192.0.2.7"))
        for count in (8, 9):
            headers = IPv6ExtHdrDestOpt()
            for _ in range(count - 1):
                headers = headers / IPv6ExtHdrDestOpt()
            send(IPv6(src="::1", dst="::1") / headers / UDP(sport=53, dport=\(udp.port)) / answer)
        print("sent", flush=True)
        """,
      ])
    #expect(try sender.finish().contains("sent"))
    // Both datagrams reached the socket: the kernel accepted them.
    #expect(udp.receive(timeoutMilliseconds: 2000) && udp.receive(timeoutMilliseconds: 2000))
    try await Task.sleep(for: .milliseconds(300))
    let kernel = capture.session.statistics.kernel
    let dns = capture.dnsCounters
    await capture.stop()
    #expect(dns.messages == 1 && dns.unsolicited == 1, "the answer behind 8 headers was parsed")
    #expect(kernel.ipv6Unparsed >= 1, "the one behind 9 was counted")
    #expect(capture.dnsEvents.isEmpty)
  }
}

/// A bound UDP socket: a port that unsolicited DNS answers can be aimed at.
final class UDPTestSocket {
  let descriptor: Int32
  let port: UInt16

  init(bindTo host: String) throws {
    let family = host.contains(":") ? AF_INET6 : AF_INET
    let descriptor = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard descriptor >= 0 else { throw SocketError("socket", errno) }
    self.descriptor = descriptor
    var storage = sockaddr_storage()
    var length: socklen_t
    if family == AF_INET6 {
      var address = sockaddr_in6()
      address.sin6_family = sa_family_t(AF_INET6)
      inet_pton(AF_INET6, host, &address.sin6_addr)
      length = socklen_t(MemoryLayout<sockaddr_in6>.size)
      withUnsafeBytes(of: address) { source in
        withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) }
      }
    } else {
      var address = sockaddr_in()
      address.sin_family = sa_family_t(AF_INET)
      inet_pton(AF_INET, host, &address.sin_addr)
      length = socklen_t(MemoryLayout<sockaddr_in>.size)
      withUnsafeBytes(of: address) { source in
        withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) }
      }
    }
    let bound = withUnsafePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(descriptor, $0, length) }
    }
    guard bound == 0 else {
      close(descriptor)
      throw SocketError("bind", errno)
    }
    _ = withUnsafeMutablePointer(to: &storage) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    // sin_port and sin6_port sit at the same offset, right after the family.
    port = withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) }
  }

  /// Waits for one datagram; true when one arrived.
  func receive(timeoutMilliseconds: Int32) -> Bool {
    var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
    guard poll(&poller, 1, timeoutMilliseconds) == 1 else { return false }
    var buffer = [UInt8](repeating: 0, count: 2048)
    return recv(descriptor, &buffer, buffer.count, 0) > 0
  }

  deinit { close(descriptor) }
}

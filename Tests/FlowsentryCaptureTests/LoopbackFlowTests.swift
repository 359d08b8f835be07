import FlowsentryCapture
import FlowsentryCore
import FlowsentryTestSupport
import Foundation
import Testing

/// Real sockets on loopback, a real kernel, the programs attached to a child cgroup the test makes.
/// Expectations come from what the test's own sockets did, never from the program's output.
@Suite(.serialized, .requires(.root, .cgroup2))
struct LoopbackFlowTests {
  static let connectionsPerKind = 4

  @Test(arguments: [TestSocket.Family.v4, .v6])
  func everyKindOfConnectionYieldsExactlyItsEvents(family: TestSocket.Family) async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let capture = try LiveCapture(cgroup: cgroup)

    let listener = try cgroup.withMembership { try TestSocket(family) }
    try listener.bind(family.loopback)
    try listener.listen()
    let server = listener.localEndpoint
    var expected: [EventShape] = []
    var sockets: [TestSocket] = []

    func handshake() throws -> (client: TestSocket, accepted: TestSocket, endpoint: Endpoint) {
      let client = try cgroup.withMembership { try TestSocket(family) }
      #expect(try client.connect(to: server) == 0)
      let accepted = try listener.accept()
      sockets += [client, accepted]
      let endpoint = client.localEndpoint
      expected += [.begin(.outgoing, from: endpoint, to: server), .begin(.incoming, from: endpoint, to: server)]
      return (client, accepted, endpoint)
    }

    for _ in 0..<Self.connectionsPerKind {
      // The client closes first.
      var (client, accepted, endpoint) = try handshake()
      client.close()
      accepted.readToEnd()
      accepted.close()
      expected += [
        .end(.outgoing, .fin, by: .local, from: endpoint, to: server),
        .end(.incoming, .fin, by: .remote, from: endpoint, to: server),
      ]

      // The server closes first.
      (client, accepted, endpoint) = try handshake()
      accepted.close()
      client.readToEnd()
      client.close()
      expected += [
        .end(.outgoing, .fin, by: .remote, from: server, to: endpoint),
        .end(.incoming, .fin, by: .local, from: server, to: endpoint),
      ]

      // The client aborts: SO_LINGER 0 turns close into RST.
      (client, accepted, endpoint) = try handshake()
      client.setLingerZero()
      client.close()
      accepted.readToEnd()
      accepted.close()
      expected += [
        .end(.outgoing, .rst, by: .local, from: endpoint, to: server),
        .end(.incoming, .rst, by: .remote, from: endpoint, to: server),
      ]

      // Nothing listens: the attempt is refused. The kernel's RST comes from outside the test
      // cgroup, so only the asking socket's side is in view.
      let (nobody, asking) = try TestSocket.refusedAttempt(family, from: cgroup)
      expected.append(.end(.outgoing, .refused, by: .remote, from: nobody, to: asking))
    }

    let events = try await capture.events(count: expected.count)
    await capture.stop()
    #expect(events.map(\.shape).sorted() == expected.sorted())

    // Each event names the process that made the socket: this test, on the thread that made it.
    for event in events {
      #expect(event.process?.pid == UInt32(getpid()), "\(event.shape)")
      #expect(event.process?.command == listener.creatorCommand, "\(event.shape)")
      #expect(event.cgroupID == capture.session.cgroup.id, "\(event.shape)")
      if event.name == .netFlowTCPEnd && event.closeReason != .refused {
        #expect((event.durationNanoseconds ?? -1) >= 0, "\(event.shape)")
      }
    }
    let statistics = capture.session.statistics
    #expect(statistics.kernelDrops == 0 && statistics.queueDrops == 0 && statistics.malformedRecords == 0)
  }

  @Test func retransmittedSynAckMakesNoDuplicateBegin() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let capture = try LiveCapture(cgroup: cgroup)

    // TCP_DEFER_ACCEPT makes the listener ignore the handshake's bare ACK and retransmit its
    // SYN+ACK (after about a second) until data arrives. With 1 s, the kernel retransmits at the
    // first timeout; longer values make it wait for more timeouts before the first one.
    let listener = try cgroup.withMembership { try TestSocket(.v4) }
    try listener.bind("127.0.0.1")
    try listener.listen(deferAcceptSeconds: 1)
    let server = listener.localEndpoint
    let client = try cgroup.withMembership { try TestSocket(.v4) }
    #expect(try client.connect(to: server) == 0)
    let endpoint = client.localEndpoint
    try await Task.sleep(for: .milliseconds(2500))
    try client.send("hello")
    let accepted = try listener.accept()
    client.close()
    accepted.readToEnd()
    accepted.close()

    let expected: [EventShape] = [
      .begin(.outgoing, from: endpoint, to: server), .begin(.incoming, from: endpoint, to: server),
      .end(.outgoing, .fin, by: .local, from: endpoint, to: server),
      .end(.incoming, .fin, by: .remote, from: endpoint, to: server),
    ]
    let events = try await capture.events(count: expected.count)
    await capture.stop()
    #expect(events.map(\.shape).sorted() == expected.sorted())
    // The retransmission really happened: the kernel saw a SYN+ACK reach a socket that was no longer
    // connecting, and ignored it; begins come from the sockets' own state, so none was repeated.
    #expect(capture.session.statistics.kernel.unexpectedSYNACKs >= 1)
    #expect(capture.counters.repeatedHandshakes == 0)
  }

  @Test func trafficOutsideTheCgroupIsNotSeen() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let capture = try LiveCapture(cgroup: cgroup)

    for family in [TestSocket.Family.v4, .v6] {
      let listener = try TestSocket(family)
      try listener.bind(family.loopback)
      try listener.listen()
      let client = try TestSocket(family)
      #expect(try client.connect(to: listener.localEndpoint) == 0)
      let accepted = try listener.accept()
      client.close()
      accepted.readToEnd()
      accepted.close()
    }
    // One connection inside, so that the test knows capture was live while the others ran.
    let listener = try cgroup.withMembership { try TestSocket(.v4) }
    try listener.bind("127.0.0.1")
    try listener.listen()
    let client = try TestSocket(.v4)
    #expect(try client.connect(to: listener.localEndpoint) == 0)
    let accepted = try listener.accept()
    accepted.close()
    client.close()

    let events = try await capture.events(count: 2)
    await capture.stop()
    #expect(events.count == 2)
    #expect(events.allSatisfy { $0.local == listener.localEndpoint && $0.direction == .incoming })
  }

  /// An accepted socket carries the process of its listener, which sock_ops records at listen(2)
  /// by namespace, address and port. SO_REUSEPORT listeners share that key: when one of them
  /// closes, the others' process must stay.
  @Test func acceptedFlowsKeepTheirListenersProcessWhenAnotherListenerOnThePortCloses() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let capture = try LiveCapture(cgroup: cgroup)

    func listener(named name: String, port: UInt16) throws -> TestSocket {
      try withThreadName(name) {
        try cgroup.withMembership {
          let socket = try TestSocket(.v4)
          socket.setReusePort()
          try socket.bind("127.0.0.1", port: port)
          try socket.listen()
          return socket
        }
      }
    }
    let first = try listener(named: "fs-listen-one", port: 0)
    let second = try listener(named: "fs-listen-two", port: first.localEndpoint.port)
    first.close()
    try second.acceptOneConnection(from: cgroup)

    let events = try await capture.events(count: 4)
    await capture.stop()
    let incoming = events.filter { $0.direction == .incoming }
    #expect(incoming.count == 2)
    #expect(incoming.allSatisfy { $0.process?.command == "fs-listen-two" }, "\(incoming.map(\.process))")
    #expect(capture.session.statistics.kernel.ownerUnknown == 0)
  }

  /// A dual-stack listener bound to the wildcard address: the accepted sockets' own local addresses
  /// (127.0.0.1 as ::ffff:127.0.0.1, and ::1) find its process through the wildcard entry.
  @Test func aWildcardDualStackListenersProcessReachesEveryConnectionItAccepts() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let capture = try LiveCapture(cgroup: cgroup)

    let listener = try cgroup.withMembership { try TestSocket(.v6) }
    try listener.bind("::")
    try listener.listen()
    var expected: [EventShape] = []
    for family in [TestSocket.Family.v4, .v6] {
      let (endpoint, server) = try listener.acceptOneConnection(from: cgroup, clientFamily: family)
      expected += [
        .begin(.outgoing, from: endpoint, to: server), .begin(.incoming, from: endpoint, to: server),
        .end(.outgoing, .fin, by: .local, from: endpoint, to: server),
        .end(.incoming, .fin, by: .remote, from: endpoint, to: server),
      ]
    }
    let events = try await capture.events(count: expected.count)
    await capture.stop()
    #expect(events.map(\.shape).sorted() == expected.sorted())
    for event in events.filter({ $0.name == .netFlowTCPBegin }) {
      #expect(event.process?.pid == UInt32(getpid()), "\(event.shape)")
    }
    #expect(capture.session.statistics.kernel.ownerUnknown == 0)
  }

  /// Without the socket walk (which makes sock_ops follow such sockets: FlowUpdateLiveTests), a flow
  /// older than the monitor still ends, through its FIN packets.
  @Test func flowsOlderThanTheMonitorStillEnd() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let listener = try cgroup.withMembership { try TestSocket(.v4) }
    try listener.bind("127.0.0.1")
    try listener.listen()
    let server = listener.localEndpoint
    let client = try cgroup.withMembership { try TestSocket(.v4) }
    #expect(try client.connect(to: server) == 0)
    let accepted = try listener.accept()
    let endpoint = client.localEndpoint

    let capture = try LiveCapture(cgroup: cgroup, walksSockets: false)
    client.close()
    accepted.readToEnd()
    accepted.close()
    let events = try await capture.events(count: 2)
    await capture.stop()
    #expect(
      events.map(\.shape).sorted()
        == [
          .end(.outgoing, .fin, by: .local, from: endpoint, to: server),
          .end(.incoming, .fin, by: .remote, from: endpoint, to: server),
        ].sorted())
    #expect(events.allSatisfy { $0.durationNanoseconds == nil })
    #expect(capture.counters.endsWithoutBegin == 2)
  }
}

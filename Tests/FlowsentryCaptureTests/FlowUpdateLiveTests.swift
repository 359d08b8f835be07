import FlowsentryCapture
import FlowsentryCore
import FlowsentryPipeline
import FlowsentryTestSupport
import Foundation
import Testing

/// Long flows reported while open (the iter/tcp walk), and connections older than the monitor:
/// real loopback sockets in a test cgroup, expectations from what the test's sockets sent.
@Suite(.serialized, .requires(.root, .cgroup2), .testHostsInTurn)
struct FlowUpdateLiveTests {
  /// A capture whose walks and flow tracker both use `seconds` as the update interval.
  static func capture(_ cgroup: TestCgroup, updateEvery seconds: Int) throws -> LiveCapture {
    var capture = CaptureSession.Configuration()
    capture.flowUpdateIntervalSeconds = seconds
    var pipeline = Pipeline.Configuration()
    pipeline.flows.updateIntervalNanoseconds = Int64(seconds) * 1_000_000_000
    return try LiveCapture(cgroup: cgroup, configuration: capture, pipeline: pipeline)
  }

  /// Waits until `condition` holds for the events so far (or the timeout); returns them.
  static func events(
    of capture: LiveCapture, timeout: Duration = .seconds(10), until condition: ([FlowEvent]) -> Bool
  ) async throws -> [FlowEvent] {
    let deadline = ContinuousClock.now + timeout
    while !condition(capture.events) && ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(50))
    }
    return capture.events
  }

  static func updates(_ events: [FlowEvent], of client: Endpoint, _ direction: ConnectionDirection) -> [FlowEvent] {
    events.filter { $0.name == .netFlowTCPUpdate && $0.source == client && $0.direction == direction }
  }

  @Test func aConnectionKeptOpenIsReportedWithTotalsAndDeltas() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let capture = try Self.capture(cgroup, updateEvery: 1)
    let listener = try cgroup.listener(.v4)
    defer { listener.close() }
    let client = try cgroup.socket(.v4)
    defer { client.close() }
    #expect(try client.connect(to: listener.localEndpoint) == 0)
    let accepted = try listener.accept()
    defer { accepted.close() }
    let endpoint = client.localEndpoint

    try client.send(String(repeating: "a", count: 1000))
    var events = try await Self.events(of: capture) { Self.updates($0, of: endpoint, .outgoing).count >= 1 }
    let first = try #require(Self.updates(events, of: endpoint, .outgoing).first, "no update in \(events)")
    #expect(first.volume?.bytesSent == 1000, "\(first)")
    #expect(first.volumeDelta?.bytesSent == 1000, "\(first)")
    #expect(first.destination == listener.localEndpoint)
    #expect(first.process?.command != nil, "the process comes from the begin")
    #expect((first.durationNanoseconds ?? 0) >= 1_000_000_000, "reported once open past the interval")
    #expect(!first.preexisting)
    let incoming = try #require(Self.updates(events, of: endpoint, .incoming).first, "no update of the accepted side")
    #expect(incoming.volume?.bytesReceived == 1000)

    try client.send(String(repeating: "b", count: 2000))
    events = try await Self.events(of: capture) { events in
      Self.updates(events, of: endpoint, .outgoing).contains { $0.volume?.bytesSent == 3000 }
    }
    let later = try #require(
      Self.updates(events, of: endpoint, .outgoing).first { $0.volume?.bytesSent == 3000 }, "\(events)")
    // Whatever updates came between, the deltas add up to the totals: no byte counted twice.
    let updates = Self.updates(events, of: endpoint, .outgoing).prefix { $0.volume?.bytesSent != 3000 } + [later]
    #expect(updates.reduce(0) { $0 + ($1.volumeDelta?.bytesSent ?? 0) } == 3000, "\(updates)")
    #expect(later.volumeDelta?.packetsSent ?? 0 >= 1)

    client.close()
    accepted.readToEnd()
    accepted.close()
    events = try await Self.events(of: capture) { events in
      events.contains { $0.name == .netFlowTCPEnd && $0.direction == .outgoing && $0.local == endpoint }
    }
    await capture.stop()
    let end = try #require(
      events.first { $0.name == .netFlowTCPEnd && $0.direction == .outgoing && $0.local == endpoint })
    #expect(end.volume?.bytesSent == 3000)
    let reported = Self.updates(events, of: endpoint, .outgoing).reduce(0) { $0 + ($1.volumeDelta?.bytesSent ?? 0) }
    #expect(reported + (end.volumeDelta?.bytesSent ?? 0) == 3000, "updates \(reported), end \(end)")
    #expect(capture.counters.updateEvents >= 4)
  }

  @Test func aConnectionOpenBeforeTheMonitorIsPreexistingAndEndsWithCounters() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let listener = try cgroup.listener(.v4)
    defer { listener.close() }
    let client = try cgroup.socket(.v4)
    defer { client.close() }
    #expect(try client.connect(to: listener.localEndpoint) == 0)
    let accepted = try listener.accept()
    defer { accepted.close() }
    let endpoint = client.localEndpoint
    let server = listener.localEndpoint
    try client.send(String(repeating: "p", count: 500))
    try await Task.sleep(for: .milliseconds(100))

    let capture = try Self.capture(cgroup, updateEvery: 60)
    var events = try await Self.events(of: capture) { events in
      events.filter { $0.name == .netFlowTCPBegin && $0.preexisting }.count >= 2
    }
    let begins = events.filter { $0.name == .netFlowTCPBegin }
    let outgoing = try #require(begins.first { $0.direction == .outgoing }, "\(events)")
    let incoming = try #require(begins.first { $0.direction == .incoming }, "\(events)")
    for begin in [outgoing, incoming] {
      #expect(begin.preexisting)
      #expect(begin.process == nil, "the process of a connection older than the monitor is unknown")
      #expect(begin.source == endpoint && begin.destination == server, "\(begin)")
    }
    #expect(outgoing.volume?.bytesSent == 500)
    #expect(incoming.volume?.bytesReceived == 500)

    try client.send(String(repeating: "q", count: 700))
    try await Task.sleep(for: .milliseconds(100))
    client.close()
    accepted.readToEnd()
    accepted.close()
    events = try await Self.events(of: capture) { $0.filter { $0.name == .netFlowTCPEnd }.count >= 2 }
    await capture.stop()
    let ends = events.filter { $0.name == .netFlowTCPEnd }
    #expect(ends.count == 2, "\(events)")
    let clientEnd = try #require(ends.first { $0.direction == .outgoing }, "\(ends)")
    let serverEnd = try #require(ends.first { $0.direction == .incoming }, "\(ends)")
    // Through sock_ops, whose callback flags the walk set: counters, and the states it closed through.
    #expect(clientEnd.volume?.bytesSent == 1200, "\(clientEnd)")
    #expect(clientEnd.volumeDelta?.bytesSent == 700, "since the preexisting begin: \(clientEnd)")
    #expect(clientEnd.terminatedBy == .local && clientEnd.closeReason == .fin)
    #expect(clientEnd.preexisting)
    #expect(serverEnd.volume?.bytesReceived == 1200, "\(serverEnd)")
    #expect(serverEnd.terminatedBy == .remote)
    #expect(capture.counters.preexistingFlows == 2)
    #expect(capture.session.statistics.kernel.walkFollowFailures == 0)
  }

  /// A process of the cgroup in another network namespace (a container): the walk enters that
  /// namespace, finds its connection open before the monitor, orients it by the listener it met
  /// there, reports it while open, and its end comes through sock_ops with counters.
  @Test func aConnectionInAnotherNamespaceOfTheCgroupIsWalkedThere() async throws {
    let host = try TestHost()
    defer { host.remove() }
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let trigger = FileManager.default.temporaryDirectory.appendingPathComponent("fs-walk-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: trigger) }
    let peer = try host.runPython(
      """
      import os, socket, time
      l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
      c = socket.create_connection(l.getsockname()); s, _ = l.accept()
      c.sendall(b"n" * 300)
      print(l.getsockname()[1], c.getsockname()[1], flush=True)
      while not os.path.exists("\(trigger)"): time.sleep(0.02)
      c.sendall(b"m" * 400); time.sleep(0.2); c.close()
      while s.recv(4096): pass
      s.close(); l.close()
      """, in: cgroup)
    let ports = try peer.firstLine().split(separator: " ").compactMap { UInt16($0) }
    let server = Endpoint(IPAddress("127.0.0.1")!, try #require(ports.first))
    let client = Endpoint(IPAddress("127.0.0.1")!, try #require(ports.last))

    let capture = try Self.capture(cgroup, updateEvery: 1)
    var events = try await Self.events(of: capture) { events in
      Self.updates(events, of: client, .outgoing).count >= 1 && Self.updates(events, of: client, .incoming).count >= 1
    }
    let begins = events.filter { $0.name == .netFlowTCPBegin && $0.source == client }
    #expect(begins.count == 2 && begins.allSatisfy { $0.preexisting && $0.destination == server }, "\(events)")
    #expect(Set(begins.map(\.direction)) == [.outgoing, .incoming], "oriented by the listener in its namespace")
    let update = try #require(Self.updates(events, of: client, .outgoing).first, "\(events)")
    #expect(update.volume?.bytesSent == 300 && update.volumeDelta?.bytesSent == 0, "\(update)")
    #expect(update.networkNamespace != 0 && update.networkNamespace == begins[0].networkNamespace)
    #expect(capture.session.statistics.socketWalks.lastNamespaces >= 2, "this one and the test host's")

    FileManager.default.createFile(atPath: trigger, contents: Data())
    _ = try peer.finish()
    events = try await Self.events(of: capture) { events in
      events.filter { $0.name == .netFlowTCPEnd && $0.local == client }.count >= 1
    }
    await capture.stop()
    let end = try #require(events.first { $0.name == .netFlowTCPEnd && $0.local == client }, "\(events)")
    #expect(end.volume?.bytesSent == 700, "\(end)")
    let deltas = Self.updates(events, of: client, .outgoing).reduce(0) { $0 + ($1.volumeDelta?.bytesSent ?? 0) }
    #expect(deltas + (end.volumeDelta?.bytesSent ?? 0) == 400, "what it sent after the monitor started")
  }
}

import FlowsentryCapture
import FlowsentryCore
import FlowsentryTestSupport
import Foundation
import Testing

/// sock_ops leaves a socket's state-change callback on after its end at TCP_CLOSE, since a closed
/// socket changes state again only when it is reused and the reuse's callback sets the flags anew.
/// A socket whose connect(2) was refused and that connects again must still end once per attempt.
@Suite(.serialized, .requires(.root, .cgroup2))
struct SocketReuseTests {
  @Test func aSocketConnectedAgainAfterARefusalEndsOncePerAttempt() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let capture = try LiveCapture(cgroup: cgroup)

    let listener = try cgroup.withMembership { try TestSocket(.v4) }
    try listener.bind(TestSocket.Family.v4.loopback)
    try listener.listen()
    let server = listener.localEndpoint
    let closedPort = try TestSocket(.v4)
    try closedPort.bind(TestSocket.Family.v4.loopback)
    let nobody = closedPort.localEndpoint
    closedPort.close()

    let client = try cgroup.withMembership { try TestSocket(.v4) }
    try client.bind(TestSocket.Family.v4.loopback)
    let local = client.localEndpoint
    #expect(try client.connect(to: nobody) == ECONNREFUSED)
    // The failed attempt gave its port back (it was bound to port 0): the second has its own.
    #expect(try client.connect(to: server) == 0)
    let reconnected = client.localEndpoint
    let accepted = try listener.accept()
    client.close()
    accepted.readToEnd()
    accepted.close()
    listener.close()

    let expected: [EventShape] = [
      .end(.outgoing, .refused, by: .remote, from: nobody, to: local),
      .begin(.outgoing, from: reconnected, to: server),
      .begin(.incoming, from: reconnected, to: server),
      .end(.outgoing, .fin, by: .local, from: reconnected, to: server),
      .end(.incoming, .fin, by: .remote, from: reconnected, to: server),
    ]
    let events = try await capture.events(count: expected.count)
    await capture.stop()
    #expect(events.map(\.shape).sorted() == expected.sorted())
    // The refused attempt's end, which no begin preceded; none for the connection that followed.
    #expect(capture.counters.endsWithoutBegin == 1)
  }
}

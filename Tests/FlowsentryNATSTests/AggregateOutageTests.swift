import FlowsentryCore
import FlowsentryNATS
import FlowsentryOutput
import FlowsentryTestSupport
import Foundation
import Testing

/// The server under a running aggregate goes down and comes back: the aggregate reconnects and
/// reads on (its in-progress marks wait in libnats' reconnect buffer), and the window, half of it
/// read before the outage, fires once.
@Suite(.serialized, .requires(.natsServer)) struct AggregateOutageTests {
  static func scanEvent(host index: Int) -> [UInt8] {
    let flow = FlowEvent(
      name: .netFlowTCPBegin, timestamp: 1_780_000_000_000_000_000 + Int64(index) * 100_000_000, direction: .incoming,
      source: Endpoint(IPAddress("198.51.100.66")!, 40_000),
      destination: Endpoint(IPAddress("203.0.113.\(index + 1)")!, 22))
    return Array(EventJSON.line(for: .flow(flow), context: EventJSON.Context(hostName: "host-\(index)")).utf8)
  }

  @Test(.timeLimit(.minutes(2))) func aServerRestartUnderTheAggregateLosesNothing() throws {
    let server = try NATSServer()
    var options = NATSConnectionOptions(servers: [server.url])
    options.reconnectWaitMilliseconds = 100
    let publisher = try JetStreamPublisher(connection: NATSConnection(options))
    try publisher.addStream(JetStreamStreamSettings(name: "EV", subjects: ["ev.>"]))
    var alertStream = JetStreamStreamSettings(name: "AL", subjects: ["al.>"])
    alertStream.duplicateWindowNanoseconds = 600_000_000_000
    try publisher.addStream(alertStream)
    for index in 0..<15 {
      _ = try publisher.publish(subject: "ev.\(index)", messageID: "e\(index)", payload: Self.scanEvent(host: index))
    }
    let spool = server.directory.appendingPathComponent("aggregate-spool").path
    let aggregate = try SensorRun([
      "aggregate", "--input", "nats://127.0.0.1:\(server.port)?stream=EV&consumer=c&subject=ev.>&ack_wait_ms=2000",
      "--output", "nats://127.0.0.1:\(server.port)?subject=al.{rule}", "--spool-dir", spool,
    ])
    defer { aggregate.kill() }
    #expect(
      eventually(seconds: 20) {
        (try? publisher.consumerState(stream: "EV", durable: "c-p0"))?.acknowledgementsPending == 15
      })
    // Down for longer than the ack wait.
    server.kill()
    Thread.sleep(forTimeInterval: 3)
    try server.start()
    #expect(
      eventually(seconds: 20) {
        (try? publisher.streamState("EV").messages) == 15
      })
    for index in 15..<30 {
      let published = eventually(seconds: 10) {
        (try? publisher.publish(subject: "ev.\(index)", messageID: "e\(index)", payload: Self.scanEvent(host: index)))
          != nil
      }
      #expect(published)
    }
    let raised = eventually(seconds: 30) { ((try? publisher.messages(stream: "AL")) ?? []).count == 1 }
    #expect(raised, "\(aggregate.errors)")
    let alert = try #require(
      try publisher.messages(stream: "AL").first.flatMap {
        try JSONSerialization.jsonObject(with: Data($0.data)) as? [String: Any]
      })
    #expect(alert["count"] as? Int == 30)
    aggregate.terminate()
    aggregate.wait(timeout: .seconds(30))
    #expect(aggregate.status == 0, "\(aggregate.errors)")
    #expect(aggregate.errors.contains("alerts 1"), "\(aggregate.errors)")
    #expect(try publisher.messages(stream: "AL").count == 1)
  }
}

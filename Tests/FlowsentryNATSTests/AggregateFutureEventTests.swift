import FlowsentryCore
import FlowsentryNATS
import FlowsentryOutput
import FlowsentryTestSupport
import Foundation
import Testing

/// A sensor's event from the year 2100, first on the stream: the aggregate sets it aside and the
/// scan after it still raises its fleet alert.
@Suite(.serialized, .requires(.natsServer)) struct AggregateFutureEventTests {
  static func event(host: String, index: Int, at time: Int64) -> [UInt8] {
    let flow = FlowEvent(
      name: .netFlowTCPBegin, timestamp: time, direction: .incoming,
      source: Endpoint(IPAddress("198.51.100.66")!, 40_000),
      destination: Endpoint(IPAddress("203.0.113.\(index + 1)")!, 22))
    return Array(EventJSON.line(for: .flow(flow), context: EventJSON.Context(hostName: host)).utf8)
  }

  /// The events' stream EV (ev.>) and the alerts' stream AL (al.>).
  static func streams(on server: NATSServer) throws -> JetStreamPublisher {
    let publisher = try JetStreamPublisher(connection: NATSConnection(NATSConnectionOptions(servers: [server.url])))
    try publisher.addStream(JetStreamStreamSettings(name: "EV", subjects: ["ev.>"]))
    try publisher.addStream(JetStreamStreamSettings(name: "AL", subjects: ["al.>"]))
    return publisher
  }

  /// A year-2100 event from host "liar", then one remote reaching 30 hosts: FS-FLEET-001's scan.
  static func publishFutureEventAndScan(_ publisher: JetStreamPublisher) throws {
    let year2100: Int64 = 4_102_444_800_000_000_000
    _ = try publisher.publish(
      subject: "ev.liar", messageID: "future", payload: event(host: "liar", index: 99, at: year2100))
    for index in 0..<30 {
      let time = 1_780_000_000_000_000_000 + Int64(index) * 100_000_000
      _ = try publisher.publish(
        subject: "ev.\(index)", messageID: "e\(index)", payload: event(host: "host-\(index)", index: index, at: time))
    }
  }

  @Test(.timeLimit(.minutes(2))) func aFutureDatedEventDoesNotSilenceTheFleetRule() throws {
    let server = try NATSServer()
    let publisher = try Self.streams(on: server)
    try Self.publishFutureEventAndScan(publisher)
    let spool = server.directory.appendingPathComponent("aggregate-spool").path
    let aggregate = try SensorRun([
      "aggregate", "--input", "nats://127.0.0.1:\(server.port)?stream=EV&consumer=c&subject=ev.>",
      "--output", "nats://127.0.0.1:\(server.port)?subject=al.{rule}", "--spool-dir", spool,
    ])
    defer { aggregate.kill() }
    let raised = eventually(seconds: 30) { ((try? publisher.messages(stream: "AL")) ?? []).count == 1 }
    #expect(raised, "\(aggregate.errors)")
    aggregate.terminate()
    aggregate.wait(timeout: .seconds(30))
    #expect(aggregate.status == 0, "\(aggregate.errors)")
    let futureLine = aggregate.errors.split(separator: "\n").first { $0.contains("ahead of this clock") } ?? ""
    #expect(futureLine.contains("liar") && futureLine.contains("1 such events"), "\(aggregate.errors)")
    #expect(aggregate.errors.contains("late 0"), "\(aggregate.errors)")
    #expect(aggregate.errors.contains("alerts 1"), "\(aggregate.errors)")
  }
}

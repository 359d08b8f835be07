import FlowsentryNATS
import FlowsentryTestSupport
import Foundation
import Testing

/// A durable pull consumer against a real JetStream: what was fetched and not acknowledged when
/// its reader went away is delivered again to the next reader of the same durable consumer.
@Suite(.serialized) struct JetStreamPullConsumerTests {
  @Test func unacknowledgedMessagesComeBackToTheNextReader() throws {
    try TestEnvironment.require(.natsServer)
    let server = try NATSServer()
    func connect() throws -> JetStreamPublisher {
      var options = NATSConnectionOptions(servers: [server.url])
      options.maximumReconnects = 2
      return try JetStreamPublisher(connection: NATSConnection(options))
    }
    let publisher = try connect()
    try publisher.addStream(JetStreamStreamSettings(name: "FLEET", subjects: ["fleet.>"]))
    for index in 0..<50 {
      _ = try publisher.publish(subject: "fleet.h\(index % 5).alert", messageID: "id-\(index)", payload: [UInt8(index)])
    }

    // The first reader takes 20 and acknowledges 10, then its connection goes away.
    var acknowledged: Set<String> = []
    do {
      let reader = try JetStreamPullConsumer(
        publisher: try connect(), stream: "FLEET", durable: "aggregate-0", filterSubject: "fleet.>",
        acknowledgementWaitMilliseconds: 1_000)
      let first = try reader.fetch(batch: 20, timeoutMilliseconds: 2_000)
      #expect(first.count == 20)
      #expect(first.map(\.streamSequence) == Array(1...20))
      for delivery in first.prefix(10) {
        try delivery.acknowledge()
        acknowledged.insert(delivery.messageID ?? "")
      }
    }

    // The next reader of the same durable consumer gets the other 40, the 10 unacknowledged
    // ones again once their ack wait ran out.
    let reader = try JetStreamPullConsumer(
      publisher: try connect(), stream: "FLEET", durable: "aggregate-0", filterSubject: "fleet.>",
      acknowledgementWaitMilliseconds: 1_000)
    var redelivered = 0
    _ = eventually(seconds: 10) {
      for delivery in (try? reader.fetch(batch: 50, timeoutMilliseconds: 500)) ?? [] {
        #expect(!acknowledged.contains(delivery.messageID ?? ""), "an acknowledged message came back")
        if delivery.deliveries > 1 { redelivered += 1 }
        try? delivery.acknowledge()
        acknowledged.insert(delivery.messageID ?? "")
      }
      return acknowledged.count == 50
    }
    #expect(acknowledged == Set((0..<50).map { "id-\($0)" }))
    #expect(redelivered == 10)
  }
}

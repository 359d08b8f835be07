import FlowsentryCore
import FlowsentryForwarding
import FlowsentryNATS
import FlowsentryOutput
import FlowsentryTestSupport
import Foundation
import Testing

/// Refusals that only the acknowledgement tells: the client sends, the stream refuses.
@Suite(.serialized) struct NATSStreamRefusalTests {
  @Test func aMessageOverTheStreamsMaximumIsDeadLetteredFromItsAcknowledgement() throws {
    try TestEnvironment.require(.natsServer)
    let server = try NATSServer()
    let admin = try NATSOutputTests.management(server)
    var stream = JetStreamStreamSettings(name: "SMALL", subjects: ["flowsentry.>"])
    stream.maximumMessageBytes = 4_096
    try admin.addStream(stream)
    let log = NATSOutputTests.Lines()
    let spool = try NATSOutputTests.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: spool.string) }
    let output = try NATSOutputTests.output(
      "nats://127.0.0.1:\(server.port)?subject=flowsentry.{host}", spool: spool, log: log)
    let router = OutputRouter(outputs: [output], context: EventJSON.Context(hostName: "h1"), processID: 1)
    for index in 0..<10 {
      router.receive(NATSOutputTests.alert(index, message: index == 4 ? String(repeating: "x", count: 8_000) : nil))
    }
    #expect(eventually(seconds: 10) { output.counters.spoolPending == 0 }, "\(output.counters)")
    output.stop()
    let counters = output.counters
    #expect(counters.delivered == 9)
    #expect(counters.deadLettered == 1)
    #expect(counters.nats?.errors["payload_too_large"] == 1)
    #expect(counters.retries == 0)
    #expect(try admin.streamState("SMALL").messages == 9)
    let deadLetters = try String(contentsOfFile: spool.appending("dead-letter.jsonl").string, encoding: .utf8)
    #expect(deadLetters.split(separator: "\n").count == 1)
    #expect(deadLetters.contains("over the stream's max_msg_size"))
    #expect(deadLetters.contains("xxxxxxxx"), "the refused record itself is kept")
  }
}

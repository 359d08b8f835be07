import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules
import FlowsentryTestSupport
import Foundation
import Testing

@Suite struct PipelineTests {
  let client = Endpoint(IPAddress("10.0.0.2")!, 40_000)
  let resolver = Endpoint(IPAddress("10.0.0.53")!, 53)
  let web = Endpoint(IPAddress("203.0.113.80")!, 443)
  let local = Endpoint(IPAddress("198.51.100.2")!, 8080)

  /// A question for `name` and its A answer (203.0.113.80), as the kernel hands them over.
  func lookup(_ name: String, at time: Int64) -> [CapturedRecord] {
    func message(response: Bool) -> [UInt8] {
      var bytes: [UInt8] = [
        0x00, 0x07, response ? 0x81 : 0x01, response ? 0x80 : 0x00, 0, 1, 0, response ? 1 : 0, 0, 0, 0, 0,
      ]
      for label in name.split(separator: ".") { bytes += [UInt8(label.utf8.count)] + Array(label.utf8) }
      bytes += [0, 0, 1, 0, 1]
      if response { bytes += [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 203, 0, 113, 80] }
      return bytes
    }
    let question = message(response: false)
    let answer = message(response: true)
    return [
      .dns(
        DNSPacketObservation(
          timestamp: time, hook: .egress, source: client, destination: resolver, transport: .udp,
          messageLength: question.count, payload: question)),
      .dns(
        DNSPacketObservation(
          timestamp: time + 1, hook: .ingress, source: resolver, destination: client, transport: .udp,
          messageLength: answer.count, payload: answer)),
    ]
  }

  @Test func aLookupNamesTheFlowAndTheRulesSeeEveryEventWhateverIsPrinted() throws {
    let pipeline = Pipeline(rules: try RuleLoader.load(paths: [shippedRules]))
    let everything = InMemoryEventSink()
    let printedOnlyBegins = InMemoryEventSink()
    final class Both: EventSink {
      let sinks: [any EventSink]
      init(_ sinks: [any EventSink]) { self.sinks = sinks }
      func receive(_ event: SensorEvent) { for sink in sinks { sink.receive(event) } }
      func receive(_ alert: Alert) { for sink in sinks { sink.receive(alert) } }
    }
    let sink = Both([everything, SelectingEventSink(selection: [.netFlowTCPBegin], printedOnlyBegins)])

    var records = lookup("x.trycloudflare.com", at: 1_000)
    records.append(
      .socket(
        SocketStateChange(
          timestamp: 2_000, transition: .established, direction: .outgoing, local: client, remote: web)))
    records.append(
      .socket(
        SocketStateChange(
          timestamp: 3_000, transition: .ended(.fin, by: .local), direction: .outgoing, local: client, remote: web)))
    // Forty spoofed sources leaving handshakes to one local port unfinished.
    for index in 0..<40 {
      records.append(
        .halfOpen(
          HalfOpenObservation(
            timestamp: 4_000 + Int64(index), remote: Endpoint(.v4(0xcb00_7164 + UInt32(index)), 1000), local: local,
            attempts: 1)))
    }
    for record in records { pipeline.process(record, to: sink) }

    let flows = everything.events.compactMap { event -> FlowEvent? in
      if case .flow(let flow) = event, flow.name != .netFlowTCPHalfOpen { return flow }
      return nil
    }
    #expect(flows.map(\.name) == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(flows.allSatisfy { $0.destinationNames == ["x.trycloudflare.com"] })
    #expect(everything.events.filter { $0.name == .netPacketDNS }.count == 1)
    // The rules saw the DNS answer (FS-DNS-002) and the half-open flood (FS-NET-008) although
    // only begins are printed; every alert reaches the output.
    #expect(Set(everything.alerts.map(\.ruleID)).isSuperset(of: ["FS-DNS-002", "FS-NET-008"]))
    #expect(printedOnlyBegins.events.map(\.name) == [.netFlowTCPBegin])
    #expect(printedOnlyBegins.alerts.count == everything.alerts.count)
    #expect(pipeline.counters.dns.answered == 1 && pipeline.counters.flows.beginEvents == 1)
  }
}

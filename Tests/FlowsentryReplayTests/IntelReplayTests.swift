import FlowsentryCore
import FlowsentryOutput
import FlowsentryPackets
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryRules
import FlowsentryTestSupport
import Foundation
import Testing

/// The shipped intel rules through the whole pipeline (capture → flows → DNS → rules → alert JSON),
/// with the self-test indicators the shipped lists hold.
@Suite struct IntelReplayTests {
  let client = IPAddress("10.0.0.2")!
  let resolver = IPAddress("10.0.0.53")!
  let server = IPAddress("203.0.113.80")!

  /// A lookup of `name` answered with the server's address, then, when `connect`, a handshake to `peer`.
  func capture(at path: String, name: String, connect: Bool, to peer: IPAddress? = nil) throws {
    var pcap = PcapWriter(linkType: 1)
    let second: Int64 = 1_700_000_000_000_000_000
    func add(_ ip: [UInt8], _ at: Int64) { pcap.add(Frames.ethernet(ip), at: second + at) }
    add(Frames.ipv4(client, resolver, protocolNumber: 17, Frames.udp(40_000, 53, Frames.dns(id: 9, name))), 0)
    add(
      Frames.ipv4(
        resolver, client, protocolNumber: 17,
        Frames.udp(53, 40_000, Frames.dns(id: 9, name, answer: [203, 0, 113, 80]))
      ), 1_000_000)
    if connect {
      let peer = peer ?? server
      add(
        Frames.ipv4(client, peer, protocolNumber: 6, Frames.tcp(40_001, 443, flags: [.syn], sequence: 100)), 2_000_000)
      add(
        Frames.ipv4(
          peer, client, protocolNumber: 6, Frames.tcp(443, 40_001, flags: [.syn, .ack], sequence: 9, ack: 101)),
        3_000_000)
      add(
        Frames.ipv4(client, peer, protocolNumber: 6, Frames.tcp(40_001, 443, flags: [.ack], sequence: 101, ack: 10)),
        4_000_000)
    }
    try pcap.write(to: path)
  }

  func alerts(name: String, connect: Bool, to peer: IPAddress? = nil) throws -> (alerts: [Alert], flows: Int) {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-intel-replay-\(UUID()).pcap").path
    try capture(at: path, name: name, connect: connect, to: peer)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let replayer = Replayer(
      pipeline: Pipeline(configuration: Pipeline.Configuration(), rules: try RuleLoader.load(paths: [shippedRules])))
    let sink = InMemoryEventSink()
    replayer.replay(path: path, to: sink)
    let flows = sink.events.filter { if case .flow = $0 { true } else { false } }.count
    return (sink.alerts.filter { $0.ruleID.hasPrefix("FS-INTEL") }, flows)
  }

  @Test func aLookupAndItsConnectionMakeOneAlertNamingTheIndicator() throws {
    let (alerts, flows) = try alerts(name: "c2.FlowSentry-SelfTest.invalid", connect: true)
    #expect(flows >= 1)
    #expect(alerts.map(\.ruleID) == ["FS-INTEL-002"])
    let alert = try #require(alerts.first)
    #expect(alert.indicator?.indicator == "flowsentry-selftest.invalid")
    #expect(alert.indicator?.list == "intel_domains")
    #expect(alert.indicator?.source.hasPrefix(shippedRules + "/30-intel.yaml:") == true)
    let line = AlertJSON.line(for: alert, context: EventJSON.Context(hostName: "h"))
    #expect(
      line.contains(#""indicator":{"value":"flowsentry-selftest.invalid","type":"domain","list":"intel_domains""#))
  }

  @Test func aLookupWithNoConnectionFiresAndAnUnlistedOneDoesNot() throws {
    #expect(try alerts(name: "flowsentry-selftest.invalid", connect: false).alerts.count == 1)
    #expect(try alerts(name: "notflowsentry-selftest.invalid", connect: true).alerts.isEmpty)
  }

  @Test func aConnectionToAListedAddressFires() throws {
    let (alerts, _) = try alerts(name: "www.example", connect: true, to: IPAddress("192.0.2.254")!)
    #expect(alerts.map(\.ruleID) == ["FS-INTEL-001"])
    #expect(alerts.first?.indicator?.indicator == "192.0.2.254/32")
  }
}

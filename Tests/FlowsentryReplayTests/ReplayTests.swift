import FlowsentryCore
import FlowsentryOutput
import FlowsentryPackets
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryRules
import FlowsentryTestSupport
import Foundation
import Testing

@Suite struct ReplayTests {
  let client = IPAddress("10.0.0.2")!
  let resolver = IPAddress("10.0.0.53")!
  let web = IPAddress("203.0.113.80")!

  /// A lookup of a tunnelling domain, then a connection to its address that the client closes,
  /// and last a packet cut short by the end of the file.
  func capture(at path: String) throws {
    var pcap = PcapWriter(linkType: 1)
    let second: Int64 = 1_700_000_000_000_000_000
    func add(_ ip: [UInt8], _ at: Int64) { pcap.add(Frames.ethernet(ip), at: second + at) }
    add(
      Frames.ipv4(
        client, resolver, protocolNumber: 17, Frames.udp(40_000, 53, Frames.dns(id: 9, "c2.trycloudflare.com"))), 0)
    add(
      Frames.ipv4(
        resolver, client, protocolNumber: 17,
        Frames.udp(53, 40_000, Frames.dns(id: 9, "c2.trycloudflare.com", answer: [203, 0, 113, 80]))), 1_000_000)
    add(Frames.ipv4(client, web, protocolNumber: 6, Frames.tcp(40_001, 443, flags: [.syn], sequence: 100)), 2_000_000)
    add(
      Frames.ipv4(
        web, client, protocolNumber: 6, Frames.tcp(443, 40_001, flags: [.syn, .ack], sequence: 900, ack: 101)),
      3_000_000)
    add(
      Frames.ipv4(client, web, protocolNumber: 6, Frames.tcp(40_001, 443, flags: [.ack], sequence: 101, ack: 901)),
      4_000_000)
    // What no stack would have accepted: a SYN+ACK nobody asked for, and an RST far outside the window.
    let forgedSYNACK = Frames.tcp(443, 40_999, flags: [.syn, .ack], sequence: 5, ack: 77)
    add(Frames.ipv4(web, client, protocolNumber: 6, forgedSYNACK), 5_000_000)
    let blindRST = Frames.tcp(443, 40_001, flags: [.rst], sequence: 901 &+ 0x4000_0000)
    add(Frames.ipv4(web, client, protocolNumber: 6, blindRST), 6_000_000)
    // 3,000 bytes of data move the client's sequence; its FIN comes after them.
    let data = Frames.tcp(
      40_001, 443, flags: [.psh, .ack], sequence: 101, ack: 901, [UInt8](repeating: 0x61, count: 3000))
    add(Frames.ipv4(client, web, protocolNumber: 6, data), 7_000_000)
    let clientFIN = Frames.tcp(40_001, 443, flags: [.fin, .ack], sequence: 3101, ack: 901)
    add(Frames.ipv4(client, web, protocolNumber: 6, clientFIN), 500_000_000)
    let serverFIN = Frames.tcp(443, 40_001, flags: [.fin, .ack], sequence: 901, ack: 3102)
    add(Frames.ipv4(web, client, protocolNumber: 6, serverFIN), 501_000_000)
    pcap.add([0x02, 0x00], at: second + 600_000_000, claimedLength: 60)
    try pcap.write(to: path)
  }

  @Test func aCaptureGivesTheFlowsNamesAndAlertsMonitorWould() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-replay-\(getpid()).pcap").path
    try capture(at: path)
    defer { try? FileManager.default.removeItem(atPath: path) }

    let replayer = Replayer(
      pipeline: Pipeline(
        configuration: Pipeline.Configuration().validatingSegments, rules: try RuleLoader.load(paths: [shippedRules])))
    let sink = InMemoryEventSink()
    replayer.replay(path: path, to: sink)

    let flows = sink.events.compactMap { event -> FlowEvent? in
      if case .flow(let flow) = event { return flow }
      return nil
    }
    let local = Endpoint(client, 40_001)
    let remote = Endpoint(web, 443)
    #expect(flows.map(\.name) == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(flows.first?.direction == .outgoing && flows.first?.source == local && flows.first?.destination == remote)
    #expect(flows.last?.closeReason == .fin && flows.last?.terminatedBy == .local)
    // Packet time: the end comes 497 ms of capture time after the begin.
    #expect(flows.last?.durationNanoseconds == 497_000_000)
    #expect(flows.allSatisfy { $0.destinationNames == ["c2.trycloudflare.com"] })
    #expect(sink.alerts.map(\.ruleID).contains("FS-DNS-002"))
    // The cut last packet is reported with where it happened; everything before it counted.
    let summary = replayer.summary
    #expect(summary.packets == 10 && summary.decoded == 10 && summary.unreadableFiles == 0)
    #expect(summary.fileErrors.count == 1 && summary.fileErrors[0].contains("after packet 10"), "\(summary.fileErrors)")
    // Each counted once per side that saw it (both ends are local).
    let flowCounters = replayer.pipeline.counters.flows
    #expect(flowCounters.synAcksWithoutSYN == 1 && flowCounters.outOfWindowTerminations == 1, "\(flowCounters)")
  }

  @Test func aFileThatIsNotACaptureIsReportedNotFatal() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-garbage-\(getpid()).pcap").path
    try Data("not a capture at all".utf8).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let replayer = Replayer(pipeline: Pipeline())
    replayer.replay(path: path, to: InMemoryEventSink())
    replayer.replay(path: "/nonexistent/capture.pcap", to: InMemoryEventSink())
    #expect(replayer.summary.unreadableFiles == 2 && replayer.summary.packets == 0)
    #expect(replayer.summary.fileErrors.allSatisfy { $0.contains(".pcap:") })
  }
}

extension ReplayTests {
  /// pcapng with two interfaces of one link type (libpcap reads such files; one that mixes link
  /// types it refuses, which is reported). Packets of both interfaces replay as one capture.
  @Test func pcapngWithSeveralInterfacesReplays() throws {
    var file = Data()
    func append32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { file.append(contentsOf: $0) } }
    func append16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { file.append(contentsOf: $0) } }
    func block(_ type: UInt32, _ body: [UInt8]) {
      let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
      append32(type)
      append32(UInt32(12 + padded.count))
      file.append(contentsOf: padded)
      append32(UInt32(12 + padded.count))
    }
    func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    // Section header: byte-order magic, version 1.0, section length unknown.
    block(0x0a0d_0d0a, le32(0x1a2b_3c4d) + [1, 0, 0, 0] + [UInt8](repeating: 0xff, count: 8))
    // Two Ethernet interfaces, the second with nanosecond timestamps (if_tsresol option 9).
    block(0x0000_0001, [1, 0, 0, 0] + le32(65_535) + [0, 0, 0, 0])
    block(0x0000_0001, [1, 0, 0, 0] + le32(65_535) + [9, 0, 1, 0, 9, 0, 0, 0] + [0, 0, 0, 0])
    func packet(_ interface: UInt32, _ frame: [UInt8], at units: UInt64) {
      block(
        0x0000_0006,
        le32(interface) + le32(UInt32(units >> 32)) + le32(UInt32(units & 0xffff_ffff)) + le32(UInt32(frame.count))
          + le32(UInt32(frame.count)) + frame)
    }
    let syn = Frames.ipv4(client, web, protocolNumber: 6, Frames.tcp(40_002, 443, flags: [.syn], sequence: 10))
    let synAck = Frames.ipv4(
      web, client, protocolNumber: 6, Frames.tcp(443, 40_002, flags: [.syn, .ack], sequence: 70, ack: 11))
    let fin = Frames.ipv4(
      client, web, protocolNumber: 6, Frames.tcp(40_002, 443, flags: [.fin, .ack], sequence: 11, ack: 71))
    packet(0, Frames.ethernet(syn), at: 1_700_000_000_000_000)  // microseconds
    packet(1, Frames.ethernet(synAck), at: 1_700_000_000_001_000_000)  // nanoseconds
    packet(0, Frames.ethernet(fin), at: 1_700_000_000_250_000)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-ng-\(getpid()).pcapng").path
    try file.write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }

    let replayer = Replayer(pipeline: Pipeline(configuration: Pipeline.Configuration().validatingSegments))
    let sink = InMemoryEventSink()
    replayer.replay(path: path, to: sink)
    #expect(replayer.summary.fileErrors.isEmpty, "\(replayer.summary.fileErrors)")
    let flows = sink.events.compactMap { event -> FlowEvent? in
      if case .flow(let flow) = event { return flow }
      return nil
    }
    #expect(flows.map(\.name) == [.netFlowTCPBegin, .netFlowTCPEnd])
    // Both interfaces' clocks, in nanoseconds: 249 ms from the SYN+ACK to the FIN.
    #expect(flows.last?.durationNanoseconds == 249_000_000)
  }
}

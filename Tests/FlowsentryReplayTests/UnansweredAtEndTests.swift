import FlowsentryCore
import FlowsentryOutput
import FlowsentryPackets
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryRules
import FlowsentryTestSupport
import Foundation
import Testing

/// A lookup still waiting for its answer when a replay's input ends is unanswered: the capture is
/// all there is. Each test's capture ends with such a lookup, so each fails where the end reports
/// nothing; what else it holds (an answered lookup, a retry answered) must stay unreported.
@Suite struct UnansweredAtEndTests {
  let client = IPAddress("10.0.0.2")!
  let resolver = IPAddress("10.0.0.53")!
  let start: Int64 = 1_700_000_000_000_000_000
  let second: Int64 = 1_000_000_000
  /// Listed by the shipped intel rules' self-test list.
  let listed = "c2.flowsentry-selftest.invalid"

  /// One packet of a lookup: a question from `port` to the resolver, or its answer when `answer`.
  struct Packet {
    var name: String
    var id: UInt16
    var port: UInt16
    var at: Int64
    var answer = false
  }

  func capture(_ packets: [Packet]) throws -> String {
    var pcap = PcapWriter(linkType: 1)
    for packet in packets {
      let frame =
        packet.answer
        ? Frames.ipv4(
          resolver, client, protocolNumber: 17,
          Frames.udp(53, packet.port, Frames.dns(id: packet.id, packet.name, answer: [203, 0, 113, 80])))
        : Frames.ipv4(
          client, resolver, protocolNumber: 17, Frames.udp(packet.port, 53, Frames.dns(id: packet.id, packet.name)))
      pcap.add(Frames.ethernet(frame), at: start + packet.at)
    }
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-eof-\(UUID()).pcap").path
    try pcap.write(to: path)
    return path
  }

  /// Replays `files` (each a capture of `packets`) in order through one pipeline with the shipped
  /// rules; `beforeFinish` is what the sink held before the run ended.
  func replay(_ files: [[Packet]]) throws -> (sink: InMemoryEventSink, replayer: Replayer, beforeFinish: Int) {
    let paths = try files.map(capture)
    defer { for path in paths { try? FileManager.default.removeItem(atPath: path) } }
    let replayer = Replayer(pipeline: Pipeline(rules: try RuleLoader.load(paths: [shippedRules])))
    let sink = InMemoryEventSink()
    for path in paths { replayer.replay(path: path, to: sink) }
    let beforeFinish = sink.events.count
    replayer.finish(to: sink)
    #expect(replayer.summary.fileErrors.isEmpty, "\(replayer.summary.fileErrors)")
    return (sink, replayer, beforeFinish)
  }

  func dnsEvents(_ sink: InMemoryEventSink) -> [DNSEvent] {
    sink.events.compactMap { if case .dns(let dns) = $0 { dns } else { nil } }
  }

  @Test func aLookupOfAListedNameThatEndsTheCaptureIsReportedAndAlerts() throws {
    let (sink, replayer, beforeFinish) = try replay([[Packet(name: listed, id: 7, port: 40_000, at: 5 * second)]])
    #expect(beforeFinish == 0, "the capture's clock never passed the timeout")
    let events = dnsEvents(sink)
    try #require(events.count == 1, "\(sink.events)")
    let event = events[0]
    // As a timed-out question reads: from the server to the asking socket, at its timeout.
    #expect(!event.answered && event.questions == [listed] && event.answers.isEmpty && event.responseCode == 0)
    #expect(event.source == Endpoint(resolver, 53) && event.destination == Endpoint(client, 40_000) && event.id == 7)
    #expect(event.timestamp == start + 35 * second, "asked at 5 s, the default timeout 30 s")
    let alerts = sink.alerts.filter { $0.ruleID.hasPrefix("FS-INTEL") }
    #expect(alerts.map(\.ruleID) == ["FS-INTEL-002"])
    #expect(alerts.first?.indicator?.indicator == "flowsentry-selftest.invalid")
    let dns = replayer.pipeline.counters.dns
    #expect(dns.questionsUnanswered == 1 && dns.questionsPending == 0 && dns.questionsAnsweredOnRetry == 0)

    replayer.finish(to: sink)
    #expect(dnsEvents(sink).count == 1, "reported once")
  }

  @Test func aLookupAnsweredInTheCaptureIsNotReported() throws {
    let (sink, replayer, _) = try replay([
      [
        Packet(name: "www.example", id: 1, port: 40_000, at: 0),
        Packet(name: "www.example", id: 1, port: 40_000, at: second / 100, answer: true),
        Packet(name: "quiet.example", id: 2, port: 40_001, at: second),
      ]
    ])
    let events = dnsEvents(sink)
    #expect(events.map(\.questions) == [["www.example"], ["quiet.example"]], "\(events)")
    #expect(events.map(\.answered) == [true, false])
    #expect(replayer.pipeline.counters.dns.questionsUnanswered == 1)
  }

  @Test func aLookupWhoseRetryWasAnsweredIsFolded() throws {
    let (sink, replayer, _) = try replay([
      [
        // Asked, not answered; asked again from another port with another id, and answered.
        Packet(name: "retried.example", id: 1, port: 40_000, at: 0),
        Packet(name: "retried.example", id: 2, port: 40_002, at: second),
        Packet(name: "retried.example", id: 2, port: 40_002, at: second + second / 100, answer: true),
        Packet(name: "quiet.example", id: 3, port: 40_003, at: 2 * second),
      ]
    ])
    let unanswered = dnsEvents(sink).filter { !$0.answered }
    #expect(unanswered.map(\.questions) == [["quiet.example"]], "\(unanswered)")
    let dns = replayer.pipeline.counters.dns
    #expect(dns.questionsAnsweredOnRetry == 1 && dns.questionsUnanswered == 1, "\(dns)")
  }

  /// The files of a run are one input: a lookup at the end of one is answered at the start of the
  /// next (a capture rotated mid-lookup), so the end is the last file's, not each file's.
  @Test func aLookupAnsweredInTheNextFileIsNotReported() throws {
    let (sink, _, _) = try replay([
      [Packet(name: "split.example", id: 1, port: 40_000, at: 0)],
      [
        Packet(name: "split.example", id: 1, port: 40_000, at: second / 100, answer: true),
        Packet(name: "quiet.example", id: 2, port: 40_001, at: second),
      ],
    ])
    let events = dnsEvents(sink)
    #expect(events.map(\.questions) == [["split.example"], ["quiet.example"]], "\(events)")
    #expect(events.map(\.answered) == [true, false])
  }

  /// The end reports what the timeout has not yet passed; what it passed is reported as before, once.
  @Test func aLookupTheCaptureTimedOutIsNotReportedAgain() throws {
    let (sink, _, beforeFinish) = try replay([
      [
        Packet(name: "early.example", id: 1, port: 40_000, at: 0),
        Packet(name: "late.example", id: 2, port: 40_001, at: 40 * second),
      ]
    ])
    #expect(beforeFinish == 1)
    let events = dnsEvents(sink)
    #expect(events.map(\.questions) == [["early.example"], ["late.example"]], "\(events)")
    #expect(events.map(\.timestamp) == [start + 30 * second, start + 70 * second])
  }
}

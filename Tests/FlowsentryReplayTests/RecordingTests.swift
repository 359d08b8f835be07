import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryRules
import FlowsentryTestSupport
import Foundation
import Testing

/// `monitor --record` writes events; `replay` reads them back and runs rules on them again.
@Suite struct RecordingTests {
  let context = EventJSON.Context(hostName: "sensor")
  let remote = Endpoint(IPAddress("203.0.113.7")!, 50_000)
  let local = Endpoint(IPAddress("198.51.100.2")!, 5900)

  @Test func everyKindOfEventReadsBackAsItWasWritten() throws {
    let events: [SensorEvent] = [
      .flow(
        FlowEvent(
          name: .netFlowTCPBegin, timestamp: 1_700_000_000_123_456_789, direction: .incoming, source: remote,
          destination: local, sourceNames: ["a.example", "b.\"quoted\"\n.example"], cgroupID: 42, socketCookie: 7,
          process: ProcessIdentity(pid: 10, uid: 1000, command: "vnc server"))),
      .flow(
        FlowEvent(
          name: .netFlowTCPEnd, timestamp: 2, direction: .outgoing, source: Endpoint(IPAddress("::1")!, 1),
          destination: Endpoint(IPAddress("2001:db8::1")!, 443), closeReason: .timeout, terminatedBy: .local,
          durationNanoseconds: 99)),
      .flow(
        FlowEvent(
          name: .netFlowTCPHalfOpen, timestamp: 3, direction: .incoming, source: remote, destination: local,
          attempts: 40)),
      .dns(
        DNSEvent(
          timestamp: 4, source: Endpoint(IPAddress("10.0.0.53")!, 53),
          destination: Endpoint(IPAddress("10.0.0.2")!, 999),
          transport: .tcp, cgroupID: 5, id: 77, responseCode: 3, questions: ["x.example"],
          answers: [.init(name: "x.example", type: "A", timeToLive: 60, data: "192.0.2.1")], truncated: true)),
    ]
    for event in events {
      guard case .event(let read) = EventJSONReader.read(EventJSON.line(for: event, context: context)) else {
        Issue.record("\(event.name) did not read back")
        continue
      }
      // A recording names the sensor that wrote it; the rest reads back unchanged.
      #expect(read == event.withHost(context.hostName))
    }
    guard case .malformed = EventJSONReader.read("{\"schema_version\":1,\"event\":\"net_flow_tcp_begin\"}") else {
      Issue.record("an event without its fields was accepted")
      return
    }
  }

  @Test func aRecordingRotatesAndReplaysThroughTheRules() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-record-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("events.jsonl").path

    // Rotation: about 400 bytes a line, 4 KiB a file, 3 files kept.
    let recorder = try RotatingFileEventSink(path: path, maximumBytes: 4096, keep: 3, context: context)
    for index in 0..<40 {
      let begin = FlowEvent(
        name: .netFlowTCPBegin, timestamp: 1_000_000_000 + Int64(index), direction: .incoming,
        source: Endpoint(remote.address, UInt16(50_000 + index)), destination: local)
      recorder.receive(.flow(begin))
      recorder.flush()
    }
    #expect(recorder.rotations >= 2 && recorder.counters.eventsWritten == 40 && recorder.counters.eventsLost == 0)
    #expect(FileManager.default.fileExists(atPath: path + ".2") && !FileManager.default.fileExists(atPath: path + ".3"))

    // The newest file, with an alert line and a broken line among its events: FS-NET-003 fires on
    // the recorded begins (an unlisted inbound port) and the broken line is counted with its number.
    var text = try String(contentsOfFile: path, encoding: .utf8)
    text += "{\"schema_version\":1,\"type\":\"alert\",\"alert_id\":\"x\"}\nnot json\n"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    let replayer = Replayer(pipeline: Pipeline(rules: try RuleLoader.load(paths: [shippedRules])))
    let sink = InMemoryEventSink()
    replayer.replay(path: path, to: sink)
    let recorded = replayer.summary.recordedEvents
    #expect(recorded >= 1 && recorded < 40 && sink.events.count == Int(recorded))
    #expect(sink.alerts.map(\.ruleID).contains("FS-NET-003"))
    #expect(replayer.summary.malformedLines == 1)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count - 1
    #expect(replayer.summary.firstSkipped == ["\(path):\(lines):1: malformed lines first here (not a JSON object)"])
  }
}

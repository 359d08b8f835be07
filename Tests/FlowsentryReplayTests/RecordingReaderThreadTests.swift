import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryRules
import FlowsentryTestSupport
import Foundation
import Testing

/// A recording read on a thread of its own, beside the pipeline's, replays as one read inline: the
/// same events in the same order, the same alerts, the same counts and positions of damage.
@Suite struct RecordingReaderThreadTests {
  let context = EventJSON.Context(hostName: "sensor")

  /// More events than the hand-off holds at once (8 batches of 256), so that the reader waits for
  /// the pipeline, with damage scattered among them.
  private func writeRecording(to path: String) throws -> Int {
    let local = Endpoint(IPAddress("198.51.100.2")!, 5900)
    var text = ""
    var events = 0
    for index in 0..<5000 {
      let remote = Endpoint(IPAddress("203.0.113.\(index % 200 + 1)")!, UInt16(40_000 + index % 20_000))
      let event: SensorEvent
      switch index % 4 {
      case 0:
        event = .flow(
          FlowEvent(
            name: .netFlowTCPBegin, timestamp: 1_700_000_000_000_000_000 + Int64(index) * 1000,
            direction: .incoming, source: remote, destination: local, cgroupID: 7,
            process: ProcessIdentity(pid: 10, uid: 0, command: "sshd")))
      case 1:
        event = .flow(
          FlowEvent(
            name: .netFlowTCPBegin, timestamp: 1_700_000_000_000_000_000 + Int64(index) * 1000,
            direction: .outgoing, source: local, destination: remote, destinationNames: ["n\(index).example"]))
      case 2:
        event = .flow(
          FlowEvent(
            name: .netFlowTCPEnd, timestamp: 1_700_000_000_000_000_000 + Int64(index) * 1000, direction: .outgoing,
            source: local, destination: remote, closeReason: .rst, terminatedBy: .remote,
            durationNanoseconds: 5_000))
      default:
        event = .dns(
          DNSEvent(
            timestamp: 1_700_000_000_000_000_000 + Int64(index) * 1000, source: local,
            destination: Endpoint(IPAddress("198.51.100.53")!, 53), transport: .udp, cgroupID: 0, id: 1,
            responseCode: 0, questions: ["q\(index).example."], answers: [], truncated: false))
      }
      text += EventJSON.line(for: event, context: context) + "\n"
      events += 1
      if index % 997 == 0 { text += "not json\n" }
      if index % 1231 == 0 { text += "\n   \n" }
      if index % 1499 == 0 { text += "{\"schema_version\":1,\"type\":\"alert\",\"alert_id\":\"x\"}\n" }
    }
    text += "{\"schema_version\":1,\"event\":\"net_flow_tcp_begin\",\"timestamp_ns\":-1}"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return events
  }

  private func replay(_ path: String, onItsOwnThread: Bool) throws -> (Replayer.Summary, InMemoryEventSink) {
    let replayer = Replayer(pipeline: Pipeline(rules: try RuleLoader.load(paths: [shippedRules])))
    replayer.readsOnItsOwnThread = onItsOwnThread
    let sink = InMemoryEventSink()
    replayer.replay(path: path, to: sink)
    return (replayer.summary, sink)
  }

  @Test func theReadingThreadChangesNothingThatIsReplayed() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-reader-thread-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("events.jsonl").path
    let written = try writeRecording(to: path)

    let (inline, inlineSink) = try replay(path, onItsOwnThread: false)
    let (threaded, threadedSink) = try replay(path, onItsOwnThread: true)
    #expect(inline.recordedEvents == UInt64(written) && threaded.recordedEvents == UInt64(written))
    // Six lines of "not json" and the last line (a time outside the range).
    #expect(inline.malformedLines == 7 && threaded.malformedLines == 7)
    #expect(threaded.firstSkipped == inline.firstSkipped && threaded.firstSkipped.count == 1)
    #expect(threaded.firstSkipped.first?.hasSuffix(":2:1: malformed lines first here (not a JSON object)") == true)
    #expect(threaded.bytes == inline.bytes && threaded.bytes > 0)
    #expect(threaded.fileErrors.isEmpty && inline.fileErrors.isEmpty)
    #expect(threadedSink.events.count == written && threadedSink.events == inlineSink.events)
    #expect(!inlineSink.alerts.isEmpty && threadedSink.alerts.map(\.id) == inlineSink.alerts.map(\.id))
  }

  @Test func anOverlongLineIsPositionedEitherWay() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-reader-long-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("events.jsonl").path
    let begin = SensorEvent.flow(
      FlowEvent(
        name: .netFlowTCPBegin, timestamp: 1_700_000_000_000_000_000, direction: .outgoing,
        source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("203.0.113.9")!, 443)))
    let line = EventJSON.line(for: begin, context: context)
    let long = "{\"pad\":\"" + String(repeating: "x", count: Replayer.maximumRecordingLineBytes) + "\"}"
    try [line, line, long, line].joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    for onItsOwnThread in [false, true] {
      let (summary, sink) = try replay(path, onItsOwnThread: onItsOwnThread)
      #expect(summary.recordedEvents == 3 && summary.malformedLines == 1 && sink.events.count == 3)
      #expect(summary.firstSkipped.first?.contains(":3:1: malformed lines first here (a line over the") == true)
    }
  }
}

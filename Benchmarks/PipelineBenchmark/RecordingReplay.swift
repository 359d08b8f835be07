import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryRules
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Retro-hunting: the flow events above written as a recording (`monitor --record`'s JSON lines),
/// then replayed through the shipped rules (alerts only, as `replay --events none`); beside it the
/// reader alone (lines decoded to events, no rules) and, for comparison, the same lines parsed by
/// Foundation's `JSONSerialization`, which the reader used before.
@MainActor func recordingReplayBenchmark(_ events: [FlowEvent], rulesDirectory: String) {
  let path = FileManager.default.temporaryDirectory.appendingPathComponent("flowsentry-bench-\(getpid()).jsonl").path
  defer { try? FileManager.default.removeItem(atPath: path) }
  let context = EventJSON.Context(hostName: "bench")
  var text: [UInt8] = []
  text.reserveCapacity(events.count * 420)
  for (index, event) in events.enumerated() {
    var named = event
    if index % 4 == 0 { named.destinationNames = ["host\(index % 1000).example.com"] }
    EventJSON.append(.flow(named), context: context, to: &text)
    text.append(UInt8(ascii: "\n"))
  }
  do {
    try Data(text).write(to: URL(fileURLWithPath: path))
    let megabytes = Double(text.count) / 1_000_000

    var decoder = EventJSONReader.Decoder()
    var decoded = 0
    var start = nanoseconds()
    var splitter = BoundedLineSplitter(maximumLineLength: Replayer.maximumRecordingLineBytes)
    _ = text.withUnsafeBytes { bytes in
      splitter.split(bytes, atEnd: true) { line in
        if case .text(let line, _) = line, case .event = decoder.read(line) { decoded += 1 }
      }
    }
    let readerSeconds = Double(nanoseconds() - start) / 1e9

    let sample = min(events.count, 100_000)
    var parsed = 0
    start = nanoseconds()
    var lineStart = 0
    for (index, byte) in text.enumerated() where byte == UInt8(ascii: "\n") {
      if parsed == sample { break }
      if (try? JSONSerialization.jsonObject(with: Data(text[lineStart..<index]))) != nil { parsed += 1 }
      lineStart = index + 1
    }
    let foundationSeconds = Double(nanoseconds() - start) / 1e9

    let replayer = Replayer(
      pipeline: Pipeline(
        configuration: Pipeline.Configuration().validatingSegments,
        rules: try RuleLoader.load(paths: [rulesDirectory])))
    let devNull = open("/dev/null", O_WRONLY)
    let output = JSONLinesEventSink(descriptor: devNull, context: context)
    start = nanoseconds()
    replayer.replay(path: path, to: SelectingEventSink(selection: [], output))
    let seconds = Double(nanoseconds() - start) / 1e9
    close(devNull)
    print(
      "replay, recording (\(events.count) flow events, \(String(format: "%.0f", megabytes)) MB of JSON lines, "
        + "shipped rules, alerts only): \(Int(Double(replayer.summary.recordedEvents) / seconds)) events/s "
        + "(\(replayer.summary.malformedLines) malformed; the reader alone \(Int(Double(decoded) / readerSeconds)) "
        + "events/s; JSONSerialization parse alone \(Int(Double(parsed) / foundationSeconds)) lines/s)")
  } catch {
    print("recording replay benchmark: \(error)")
  }
}

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
/// then replayed through the shipped rules and through no rules (alerts only, as `replay --events
/// none`); beside them the reader alone (lines decoded to events) and, for comparison, the same
/// lines parsed by Foundation's `JSONSerialization`, which the reader used before. Rates are per
/// second of this thread's CPU time, which other work on the cores does not inflate.
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
    var start = threadCPUNanoseconds()
    var splitter = BoundedLineSplitter(maximumLineLength: Replayer.maximumRecordingLineBytes)
    _ = text.withUnsafeBytes { bytes in
      splitter.split(bytes, atEnd: true) { line in
        if case .text(let line, _) = line, case .event = decoder.read(line) { decoded += 1 }
      }
    }
    let readerSeconds = Double(threadCPUNanoseconds() - start) / 1e9

    let sample = min(events.count, 100_000)
    var parsed = 0
    start = threadCPUNanoseconds()
    var lineStart = 0
    for (index, byte) in text.enumerated() where byte == UInt8(ascii: "\n") {
      if parsed == sample { break }
      if (try? JSONSerialization.jsonObject(with: Data(text[lineStart..<index]))) != nil { parsed += 1 }
      lineStart = index + 1
    }
    let foundationSeconds = Double(threadCPUNanoseconds() - start) / 1e9

    /// Events per CPU second of a replay of the recording through `rules`, and the replayer.
    func replay(_ rules: RuleSet) -> (rate: Int, replayer: Replayer) {
      let replayer = Replayer(
        pipeline: Pipeline(configuration: Pipeline.Configuration().validatingSegments, rules: rules))
      let devNull = open("/dev/null", O_WRONLY)
      defer { close(devNull) }
      let output = JSONLinesEventSink(descriptor: devNull, context: context)
      let start = threadCPUNanoseconds()
      replayer.replay(path: path, to: SelectingEventSink(selection: [], output))
      let seconds = Double(threadCPUNanoseconds() - start) / 1e9
      return (Int(Double(replayer.summary.recordedEvents) / seconds), replayer)
    }
    let (shipped, replayer) = replay(try RuleLoader.load(paths: [rulesDirectory]))
    let (withoutRules, _) = replay(.empty)
    print(
      "replay, recording (\(events.count) flow events, \(String(format: "%.0f", megabytes)) MB of JSON lines, "
        + "shipped rules, alerts only): \(shipped) events/s of CPU time "
        + "(\(replayer.summary.malformedLines) malformed; without rules \(withoutRules) events/s; the reader alone "
        + "\(Int(Double(decoded) / readerSeconds)) events/s; JSONSerialization parse alone "
        + "\(Int(Double(parsed) / foundationSeconds)) lines/s)")
  } catch {
    print("recording replay benchmark: \(error)")
  }
}

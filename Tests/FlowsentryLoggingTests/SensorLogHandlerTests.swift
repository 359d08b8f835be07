import FlowsentryCore
import Foundation
import Logging
import Synchronization
import Testing

@testable import FlowsentryLogging

/// Records what a handler writes, as a test's in-memory stderr.
final class WrittenLines: Sendable {
  private let lines = Mutex<[String]>([])
  var all: [String] { lines.withLock { $0 } }
  func write(_ bytes: [UInt8]) { lines.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) } }
}

@Suite struct SensorLogHandlerTests {
  func logger(_ format: LogFormat, _ written: WrittenLines, level: Logger.Level = .info) -> Logger {
    Logger(label: "flowsentry") { label in
      SensorLogHandler(label: label, format: format, level: level) { written.write($0) }
    }
  }

  @Test func textIsOneLineWithTheLevelWhenItMattersAndSortedMetadata() {
    let written = WrittenLines()
    let log = logger(.text, written)
    log.info("monitoring cgroup /sys/fs/cgroup/x", metadata: ["rules": "13", "cgroup_id": "42"])
    log.warning("output siem: TLS verification is OFF")
    log.debug("not shown at info")
    #expect(
      written.all == [
        "flowsentry: monitoring cgroup /sys/fs/cgroup/x cgroup_id=42 rules=13\n",
        "flowsentry: warning: output siem: TLS verification is OFF\n",
      ])
  }

  @Test func jsonLinesAreObjectsWithNumbersNestingAndEscapes() throws {
    let written = WrittenLines()
    let log = logger(.json, written)
    log.error(
      "a \"quoted\"\nmessage\u{01}",
      metadata: [
        "drops": ["queue": .stringConvertible(0), "ring_buffer": .stringConvertible(3)],
        "uptime_seconds": .stringConvertible(1.5), "name": "siem",
      ])
    let line = try #require(written.all.first)
    #expect(line.hasSuffix("}\n") && line.split(separator: "\n").count == 1)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    #expect(object["message"] as? String == "a \"quoted\"\nmessage\u{01}")
    #expect(object["level"] as? String == "error" && object["logger"] as? String == "flowsentry")
    #expect(object["drops"] as? [String: Int] == ["queue": 0, "ring_buffer": 3])
    #expect(object["uptime_seconds"] as? Double == 1.5 && object["name"] as? String == "siem")
    let time = try #require(object["time"] as? String)
    #expect(time.count == "2026-11-23T12:00:00.000000Z".count && time.hasSuffix("Z"))
  }

  @Test func autoIsNotTextWhenStderrIsNotATerminal() {
    // The test runner's stderr is a pipe or a file in CI; on a terminal auto means text.
    #expect(LogFormat.auto.resolved == (isatty(2) == 1 ? .text : .json))
    #expect(LogFormat.text.resolved == .text && LogFormat.json.resolved == .json)
  }
}

@Suite struct CounterTableTests {
  @Test func familiesNestByLabelsAndQuietZeroRowsAreLeftOut() {
    var histogram = LatencyHistogram()
    for seconds in [0.001, 0.002, 0.02, 7.0] { histogram.observe(seconds: seconds) }
    var quietZero = MetricSample.counter("flowsentry_alerts_total", 0, [("rule", "FS-NET-001")], help: "")
    quietZero.quietWhenZero = true
    var quietOne = MetricSample.counter("flowsentry_alerts_total", 2, [("rule", "FS-NET-002")], help: "")
    quietOne.quietWhenZero = true
    var quietOnly = MetricSample.counter("flowsentry_rule_matches_total", 0, [("rule", "FS-NET-001")], help: "")
    quietOnly.quietWhenZero = true
    let samples: [MetricSample] = [
      .counter("flowsentry_records_total", 6, help: ""),
      .counter("flowsentry_drops_total", 0, [("where", "ring_buffer")], help: ""),
      .counter("flowsentry_drops_total", 1, [("where", "queue")], help: ""),
      .counter("flowsentry_output_dropped_total", 4, [("output", "siem"), ("reason", "queue_full")], help: ""),
      quietZero, quietOne, quietOnly,
      .histogram("flowsentry_output_delivery_latency_seconds", histogram, [("output", "siem")], help: ""),
      MetricSample("process_cpu_seconds_total", .counter, 1.23456, help: ""),
    ]
    #expect(
      CounterTable.lines(samples) == [
        "alerts{FS-NET-002=2}",
        "drops{queue=1 ring_buffer=0}",
        "output_delivery_latency_seconds{siem{count=4 mean=1.756 p99_at_most=10.0}}",
        "output_dropped{siem{queue_full=4}}",
        "process_cpu_seconds=1.235",
        "records=6",
        "rule_matches{}",
      ])
    // In JSON a family with labels is an object whatever its rows hold: one type a key, in every record.
    let json = String(
      decoding: SensorLogHandler.json(level: .info, label: "t", message: "m", metadata: CounterTable.metadata(samples)),
      as: UTF8.self)
    #expect(json.contains("\"rule_matches\":{}"), "\(json)")
    #expect(json.contains("\"alerts\":{\"FS-NET-002\":2}"), "\(json)")
  }

  /// Thousands of rules made lines of 60,000 characters: a family shows its largest rows, and the
  /// rest as one row that says how many and holds their sum.
  @Test func aFamilyShowsItsLargestRowsAndTheRestSummed() throws {
    var samples: [MetricSample] = [.counter("flowsentry_drops_total", 0, [("where", "queue")], help: "")]
    for index in 0..<200 {
      // Rules 0-24 alerted 1-25 times, the rest never.
      var row = MetricSample.counter(
        "flowsentry_alerts_total", index < 25 ? UInt64(index + 1) : 0, [("rule", "R-\(1000 + index)")], help: "")
      row.quietWhenZero = true
      samples.append(row)
    }
    let lines = CounterTable.lines(samples)
    let alerts = try #require(lines.first { $0.hasPrefix("alerts{") })
    let shown = (6...25).map { "R-\(1000 + $0 - 1)=\($0)" }.joined(separator: " ")
    #expect(alerts == "alerts{\(shown) … and 5 more=15}", "\(alerts)")
    #expect(lines.contains("drops{queue=0}"))
    // Below the cap, every row; the cap is a parameter.
    #expect(CounterTable.lines(samples, maximumRows: 25).first { $0.hasPrefix("alerts{") }?.contains("…") == false)
    let json = String(
      decoding: SensorLogHandler.json(
        level: .info, label: "t", message: "m", metadata: CounterTable.metadata(samples, maximumRows: 2)),
      as: UTF8.self)
    #expect(json.contains("\"alerts\":{\"R-1023\":24,\"R-1024\":25,\"… and 23 more\":276}"), "\(json)")
  }

  @Test func histogramQuantilesAreBucketBounds() {
    var histogram = LatencyHistogram()
    #expect(histogram.quantileBound(0.5) == nil)
    for _ in 0..<98 { histogram.observe(seconds: 0.004) }
    histogram.observe(seconds: 0.2)
    histogram.observe(seconds: 1000)
    #expect(histogram.count == 100 && histogram.counts.reduce(0, +) == 100)
    #expect(histogram.quantileBound(0.5) == 0.005)
    #expect(histogram.quantileBound(0.99) == 0.25)
    #expect(histogram.quantileBound(1) == .infinity)
  }
}

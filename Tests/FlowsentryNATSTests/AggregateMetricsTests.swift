import FlowsentryCore
import FlowsentryNATS
import FlowsentryOutput
import Foundation
import Testing

/// `aggregate --metrics-address`: the counters a Prometheus scrape reads say what became of each
/// message (evaluated, set aside as future-dated or malformed) and what the fleet rules raised.
@Suite(.serialized, .requires(.natsServer)) struct AggregateMetricsTests {
  static func scrape(_ address: Substring) throws -> [String: Double] {
    let curl = Process()
    curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    curl.arguments = ["-sf", "http://\(address)/metrics"]
    let pipe = Pipe()
    curl.standardOutput = pipe
    try curl.run()
    let body = pipe.fileHandleForReading.readDataToEndOfFile()
    curl.waitUntilExit()
    guard curl.terminationStatus == 0 else { return [:] }
    var values: [String: Double] = [:]
    for line in String(decoding: body, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
      guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
        continue
      }
      values[String(line[..<space])] = value
    }
    return values
  }

  @Test(.timeLimit(.minutes(2))) func aScrapeCountsWhatBecameOfEachMessage() throws {
    try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"), "curl is needed to scrape")
    let server = try NATSServer()
    let publisher = try AggregateFutureEventTests.streams(on: server)
    _ = try publisher.publish(subject: "ev.garbage", messageID: "garbage", payload: Array("{\"not\":".utf8))
    try AggregateFutureEventTests.publishFutureEventAndScan(publisher)
    let aggregate = try SensorRun([
      "aggregate", "--input", "nats://127.0.0.1:\(server.port)?stream=EV&consumer=c&subject=ev.>",
      "--output", "nats://127.0.0.1:\(server.port)?subject=al.{rule}",
      "--spool-dir", server.directory.appendingPathComponent("aggregate-spool").path,
      "--metrics-address", "127.0.0.1:0",
    ])
    defer { aggregate.kill() }
    #expect(
      eventually(seconds: 30) { aggregate.errors.contains("metrics on http://127.0.0.1:") }, "\(aggregate.errors)")
    let announced = try #require(aggregate.errors.split(separator: "\n").first { $0.contains("metrics on http://") })
    let address = try #require(announced.split(separator: "http://").last?.split(separator: "/").first)

    var values: [String: Double] = [:]
    let counted = try eventually(seconds: 30) {
      values = try Self.scrape(address)
      return values["flowsentry_alerts_total{rule=\"FS-FLEET-001\"}"] == 1
        && values["flowsentry_aggregate_fetched_total"] == 32
    }
    #expect(counted, "\(values) \(aggregate.errors)")
    #expect(values["flowsentry_aggregate_evaluated_total"] == 30)
    #expect(values["flowsentry_aggregate_not_evaluated_total{reason=\"future\"}"] == 1)
    #expect(values["flowsentry_aggregate_not_evaluated_total{reason=\"malformed\"}"] == 1)
    #expect(values["flowsentry_aggregate_not_evaluated_total{reason=\"late\"}"] == 0)
    #expect(values["flowsentry_aggregate_errors_total"] == 0)
    #expect(values["flowsentry_rule_events_total"] == 30)
    #expect((values["process_resident_memory_bytes"] ?? 0) > 1_000_000)
    // docs/METRICS.md, generated from the code, explains each of the aggregate's families.
    let page = try String(contentsOfFile: "docs/METRICS.md", encoding: .utf8)
    // A histogram's series are its family's name with _bucket, _sum and _count.
    let series = Set(values.keys.compactMap { $0.split(separator: "{").first }.filter { $0.hasPrefix("flowsentry_") })
    let histograms = Set(series.filter { $0.hasSuffix("_bucket") }.map { $0.dropLast("_bucket".count) })
    let families = Set(
      series.map { name in
        histograms.first { name == $0 + "_bucket" || name == $0 + "_sum" || name == $0 + "_count" } ?? name
      })
    #expect(families.count > 10)
    for family in families {
      let short = family.dropFirst("flowsentry_".count).replacingOccurrences(of: "_total", with: "")
      #expect(page.contains("`\(short)`"), "docs/METRICS.md does not explain \(family)")
    }
    aggregate.terminate()
    aggregate.wait(timeout: .seconds(30))
    #expect(aggregate.status == 0, "\(aggregate.errors)")
  }
}

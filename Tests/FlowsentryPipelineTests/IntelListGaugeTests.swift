import FlowsentryCore
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Testing

/// The running set's typed lists show as gauges by list, and follow a reload: a feed replaced by an
/// error page drops its list to nothing and its lines to malformed, which a dashboard can alert on.
@Suite struct IntelListGaugeTests {
  func value(_ samples: [MetricSample], _ name: String, list: String) -> Double? {
    samples.first { $0.name == name && $0.labels.contains { $0 == ("list", list) } }?.value
  }

  @Test func aListsGaugesFollowItsFeedAcrossAReload() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-gauges-\(UUID())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let feed = directory + "/c2.txt"
    try "# feed\nevil.example\nbad..name\nworse.example\n".write(toFile: feed, atomically: true, encoding: .utf8)
    let rules = directory + "/rules.yaml"
    try "- list: {name: c2, type: domain, match: suffix, files: [c2.txt]}\n".write(
      toFile: rules, atomically: true, encoding: .utf8)

    let pipeline = Pipeline(rules: try RuleLoader.load(sources: [], paths: [rules]))
    var samples = IntelListSummary.samples(pipeline.counters.intelLists)
    #expect(value(samples, "flowsentry_intel_list_indicators", list: "c2") == 2)
    #expect(value(samples, "flowsentry_intel_list_malformed_lines", list: "c2") == 1)
    #expect(value(samples, "flowsentry_intel_list_files", list: "c2") == 1)
    #expect((value(samples, "flowsentry_intel_list_memory_bytes", list: "c2") ?? 0) > 0)
    #expect(
      samples.allSatisfy {
        if case .gauge = $0.kind { return true }
        return false
      })

    try "<html><body>503 Service Unavailable</body></html>\n".write(toFile: feed, atomically: true, encoding: .utf8)
    pipeline.replaceRules(try RuleLoader.load(sources: [], paths: [rules]))
    samples = IntelListSummary.samples(pipeline.counters.intelLists)
    #expect(value(samples, "flowsentry_intel_list_indicators", list: "c2") == 0)
    #expect(value(samples, "flowsentry_intel_list_malformed_lines", list: "c2") == 1)
  }
}

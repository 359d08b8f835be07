import FlowsentryCore
import FlowsentryTestSupport
import Foundation
import Testing

/// The monitor's start with regex rules: the pattern sets are built (or loaded from
/// `state_dir/patterns`) before the programs attach, and said in one line; `/metrics` is bound
/// before either, so that a port already taken stops the monitor before it attaches anything.
@Suite(.serialized, .requires(.root, .cgroup2, .bpftool))
struct PatternColdStartTests {
  /// A scratch directory with a rule file of regexes and a configuration reading it.
  struct Setup {
    let directory: URL
    var configuration: String { directory.appendingPathComponent("config.yaml").path }
    var state: URL { directory.appendingPathComponent("state") }

    init(cgroup: TestCgroup, metricsAddress: String? = nil) throws {
      directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-coldstart-\(UUID())")
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      let rules = (0..<50).map { index in
        """
        - rule:
            id: T-\(index)
            name: regex \(index)
            condition: remote_dns matches 'host\(index)[0-9]{1,3}\\.(?:example|test)\\.net' or remote_dns matches 'x\(index)\\.\\Kevil$'
        """
      }
      try rules.joined(separator: "\n").write(
        to: directory.appendingPathComponent("rules.yaml"), atomically: true, encoding: .utf8)
      var text = """
        cgroup: \(cgroup.path)
        events: none
        default_rules: false
        rules: [rules.yaml]
        state_dir: \(directory.appendingPathComponent("state").path)
        spool_dir: \(directory.appendingPathComponent("spool").path)

        """
      if let metricsAddress { text += "metrics_address: \(metricsAddress)\n" }
      try text.write(toFile: configuration, atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
  }

  @Test func patternsAreBuiltAndSaidBeforeTheProgramsAttach() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let setup = try Setup(cgroup: cgroup)
    defer { setup.remove() }
    for start in ["cold", "warm"] {
      let monitor = try await MonitorProcess.attached(to: cgroup, ["--config", setup.configuration])
      defer { monitor.kill() }
      // At once: SIGTERM is trapped from the start, not only once the service group runs.
      monitor.signal(SIGTERM)
      #expect(try await monitor.exitStatus() == 0, "\(monitor.stderr)")
      let records = monitor.logRecords()
      let messages = records.compactMap { $0["message"] as? String }
      let built = try #require(messages.firstIndex { $0.hasPrefix("patterns: ") }, "\(monitor.stderr)")
      let attached = try #require(messages.firstIndex { $0.hasPrefix("monitoring cgroup") })
      // Built on the loader thread before the attach: the pipeline's first batch never waits for it.
      #expect(built < attached, "\(messages)")
      let line = messages[built]
      #expect(
        line.hasPrefix("patterns: 100 regexes in 1 field (50 exact, 0 confirmed, 0 prefilter, 50 PCRE2 only), "),
        "\(line)")
      #expect(line.contains(start == "cold" ? ", built in " : ", loaded from the cache in "), "\(line)")
      #expect(line.hasSuffix("`flowsentry rules check` lists the PCRE2-only ones and why"), "\(line)")
      #expect(records[built]["regexes"] as? String == "100", "\(records[built])")
      // The engine took a set already built: the cache was looked up once, by the loader.
      let stopped = try #require(records.last { $0["message"] as? String == "stopped" })
      #expect(stopped["rule_pattern_cache_misses"] as? Int == (start == "cold" ? 1 : 0), "\(stopped)")
      #expect(stopped["rule_pattern_cache_hits"] as? Int == (start == "cold" ? 0 : 1), "\(stopped)")
      #expect(stopped["rule_pattern_build_seconds"] != nil, "\(stopped)")
      #expect(!messages.contains { $0.contains("cannot write the pattern cache") })
    }
  }

  /// Port taken: one positioned error through the logger (JSON here), nothing attached, and no
  /// word of a feed reload that never ran.
  @Test func aMetricsPortTakenStopsTheMonitorBeforeItAttaches() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let holder = try cgroup.listener(.v4)
    defer { holder.close() }
    let address = "127.0.0.1:\(holder.localEndpoint.port)"
    let setup = try Setup(cgroup: cgroup, metricsAddress: address)
    defer { setup.remove() }
    let monitor = try MonitorProcess(["monitor", "--config", setup.configuration])
    #expect(try await monitor.exitStatus() == 1)
    let records = monitor.logRecords()
    #expect(records.count == monitor.stderr.split(separator: "\n").count, "every line a record: \(monitor.stderr)")
    let messages = records.compactMap { $0["message"] as? String }
    let error = try #require(messages.first, "\(monitor.stderr)")
    #expect(
      error.hasPrefix("\(setup.configuration):7:18: error: metrics_address: cannot serve /metrics at \(address): "),
      "\(error)")
    #expect(error.contains("Address already in use"), "\(error)")
    #expect(records.first?["level"] as? String == "error")
    #expect(!messages.contains { $0.hasPrefix("monitoring cgroup") || $0.hasPrefix("patterns: ") }, "\(messages)")
    #expect(!messages.contains { $0.contains("shutting down before") }, "\(messages)")
    #expect(try attachedPrograms(cgroup.path).isEmpty)
  }
}

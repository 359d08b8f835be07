import FlowsentryTestSupport
import Foundation

/// The flowsentry executable running as a child process, its stdout and stderr captured.
final class MonitorProcess: Sendable {
  static var binary: String { flowsentryBinary }
  let child: ChildProcess

  init(_ arguments: [String], executable: String = MonitorProcess.binary) throws {
    child = try ChildProcess(executable, arguments)
  }

  /// `flowsentry monitor --cgroup CGROUP ARGUMENTS…`, once its programs are attached.
  static func attached(to cgroup: TestCgroup, _ arguments: [String] = []) async throws -> MonitorProcess {
    let monitor = try MonitorProcess(["monitor", "--cgroup", cgroup.path] + arguments)
    try await monitor.waitUntilAttached()
    return monitor
  }

  var stderr: String { child.stderr }
  var stdoutSoFar: String { child.stdout }

  /// stderr's JSON log records (the format when stderr is not a terminal).
  func logRecords() -> [[String: Any]] {
    stderr.split(separator: "\n").compactMap { line in
      (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }
  }

  /// stderr's lines that hold one of `texts`, each as the first of them it holds: the order in
  /// which a reload's start and outcome lines came.
  func stderrOrder(_ texts: [String]) -> [String] {
    stderr.split(separator: "\n").compactMap { line in texts.first { line.contains($0) } }
  }

  func waitUntilAttached() async throws {
    try await waitForStderr("monitoring cgroup", timeout: .seconds(20))
  }

  func waitForStderr(_ text: String, timeout: Duration = .seconds(10)) async throws {
    let stderr = try await child.waitForOutput(\.stderr, timeout: timeout) { $0.contains(text) }
    guard stderr.contains(text) else {
      throw MissingValue(
        description: "no '\(text)' on stderr (\(child.termination?.description ?? "running")): \(stderr)")
    }
  }

  func stdoutLines(count: Int) async throws -> [String] {
    let stdout = try await child.waitForOutput { $0.split(separator: "\n").count >= count }
    let lines = stdout.split(separator: "\n").map(String.init)
    guard lines.count >= count else {
      throw MissingValue(description: "fewer than \(count) lines on stdout: \(stdout)")
    }
    return lines
  }

  /// Alert objects printed so far.
  func alerts() throws -> [[String: Any]] {
    stdoutSoFar.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }.filter { $0["type"] as? String == "alert" }
  }

  /// Waits until alerts of all these rules have been printed (or a timeout), then returns all alerts.
  func alerts(including rules: Set<String>) async throws -> [[String: Any]] {
    _ = try await child.waitForOutput { _ in
      rules.isSubset(
        of: Set(((try? self.alerts()) ?? []).compactMap { ($0["rule"] as? [String: Any])?["id"] as? String }))
    }
    try await Task.sleep(for: .milliseconds(300))
    return try alerts()
  }

  func signal(_ signal: Int32) { child.signal(signal) }

  /// The exit status as a shell reports it; throws (the process killed) after 15 seconds.
  func exitStatus() async throws -> Int32 { try await child.exit().status }

  func kill() { child.kill() }
}

/// Prometheus text lines by their series (`name{labels}`), for tests.
struct MetricsLines {
  let values: [String: Double]
  /// The families named by `# HELP` lines.
  let families: [String]
  init(_ text: String) {
    families = text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.compactMap {
      $0.split(separator: " ").dropFirst(2).first.map(String.init)
    }
    var values: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
      guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
      values[String(line[..<space])] = value
    }
    self.values = values
  }
  func value(_ series: String) -> Double? { values[series] }
}

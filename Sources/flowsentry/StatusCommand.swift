import ArgumentParser
import AsyncHTTPClient
import FlowsentryCore
import FlowsentryLogging
import FlowsentryRules
import Foundation

/// `flowsentry status`: a running monitor's counters, read from its metrics endpoint, for a person.
struct StatusCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "status",
    abstract: "Summarise a running monitor's counters, read from its metrics endpoint (--metrics-address)."
  )

  @Option(help: ArgumentHelp("The monitor's metrics address.", valueName: "host:port"))
  var metricsAddress = "127.0.0.1:9464"

  func run() async throws {
    let url = "http://\(metricsAddress)/metrics"
    let text: String
    do {
      var request = HTTPClientRequest(url: url)
      request.method = .GET
      let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
      guard response.status == .ok else {
        standardError("flowsentry: status: \(url) answered \(response.status.code)")
        throw ExitCode.failure
      }
      text = String(buffer: try await response.body.collect(upTo: 16 << 20))
    } catch let error as ExitCode {
      throw error
    } catch {
      standardError(
        "flowsentry: status: cannot read \(url) (\(error)); is the monitor running with --metrics-address \(metricsAddress)?"
      )
      throw ExitCode.failure
    }
    print(Self.summary(of: MetricsText(text), address: metricsAddress), terminator: "")
  }

  /// The counter table read back from `/metrics`, one family a line, as the exit record prints it.
  static func summary(of metrics: MetricsText, address: String) -> String {
    // A histogram's buckets are for Prometheus; its _sum and _count say enough here. The build's
    // row is in the headline.
    // Per-rule and per-list zero rows are left out as the exit record leaves them out (with 5,000
    // rules, /metrics holds 20,000 of them); the table caps what a family shows (CounterTable).
    let quiet = RuleEngine.Counters.quietWhenZeroNames
    let samples = metrics.all.filter { !$0.name.hasSuffix("_bucket") && $0.name != buildInfo }.map { series in
      var sample = MetricSample(
        series.name, .counter, series.value,
        labels: series.labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
        help: "")
      sample.quietWhenZero = quiet.contains(series.name)
      return sample
    }
    return ([headline(metrics, address: address)] + CounterTable.lines(samples)).joined(separator: "\n") + "\n"
  }

  static let buildInfo = MetricSample.buildInfo.name

  /// What an operator asks first: which build runs, how long it has run, how old its rules are, and
  /// whether a reload was refused (the table below has the rest). A monitor older than a row says
  /// nothing of it.
  static func headline(_ metrics: MetricsText, address: String, now: Double = Double(time(nil))) -> String {
    var parts: [String] = []
    if let start = metrics.series("process_start_time_seconds").first?.value, start > 0 {
      parts.append("up \(age(now - start))")
    }
    if let loaded = metrics.series("flowsentry_rules_loaded_timestamp_seconds").first?.value, loaded > 0 {
      parts.append("rules loaded \(age(now - loaded)) ago")
    }
    let failures = metrics.series("flowsentry_rule_reload_failures_total").reduce(0) { $0 + $1.value }
    if !metrics.series("flowsentry_rule_reload_failures_total").isEmpty {
      parts.append(
        failures == 0
          ? "no reload refused"
          : "\(counted(Int(failures), "reload")) refused (the running rules are older than their files)")
    }
    // The version is the monitor's to say, read off the network: printed, never obeyed by the terminal.
    let version = metrics.series(buildInfo).first?.labels["version"].flatMap {
      $0.isEmpty ? nil : " " + TerminalText.escapingControls($0)
    }
    return "flowsentry\(version ?? "") at \(address)" + (parts.isEmpty ? "" : ": " + parts.joined(separator: "; "))
  }

  /// `3d 4h`, `2h 5m`, `4m 10s`, `7s`: the two largest units.
  static func age(_ seconds: Double) -> String {
    let total = max(0, Int(seconds))
    let (days, hours, minutes, rest) = (total / 86_400, total / 3_600 % 24, total / 60 % 60, total % 60)
    if days > 0 { return "\(days)d \(hours)h" }
    if hours > 0 { return "\(hours)h \(minutes)m" }
    if minutes > 0 { return "\(minutes)m \(rest)s" }
    return "\(rest)s"
  }
}

/// The Prometheus text format, read back: `name{label="value",…} number` lines.
struct MetricsText {
  struct Series {
    var name: String
    var labels: [String: String]
    var value: Double
  }

  let all: [Series]

  init(_ text: String) {
    all = text.split(separator: "\n").compactMap { line -> Series? in
      guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "),
        let value = Double(line[line.index(after: space)...])
      else { return nil }
      let head = line[..<space]
      guard let brace = head.firstIndex(of: "{") else { return Series(name: String(head), labels: [:], value: value) }
      var labels: [String: String] = [:]
      for pair in head[head.index(after: brace)...].dropLast().split(separator: ",") {
        let parts = pair.split(separator: "=", maxSplits: 1)
        guard parts.count == 2 else { continue }
        labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
      }
      return Series(name: String(head[..<brace]), labels: labels, value: value)
    }
  }

  func series(_ name: String) -> [Series] { all.filter { $0.name == name } }

  func value(_ name: String, _ labels: [String: String]) -> Double? {
    all.first { $0.name == name && $0.labels == labels }?.value
  }
}

import ArgumentParser
import AsyncHTTPClient
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

  static func summary(of metrics: MetricsText, address: String) -> String {
    func count(_ name: String, _ labels: [String: String] = [:]) -> String {
      metrics.value(name, labels).map { String(format: "%.0f", $0) } ?? "?"
    }
    var lines = ["flowsentry at \(address)"]
    let cpu = metrics.value("process_cpu_seconds_total", [:]) ?? 0
    let resident = (metrics.value("process_resident_memory_bytes", [:]) ?? 0) / 1_048_576
    lines.append(String(format: "process: %.1f s of CPU, %.1f MiB resident", cpu, resident))
    lines.append(
      "events: begin \(count("flowsentry_events_total", ["event": "net_flow_tcp_begin"])), "
        + "end \(count("flowsentry_events_total", ["event": "net_flow_tcp_end"])), "
        + "dns \(count("flowsentry_events_total", ["event": "net_packet_dns"])); "
        + "records \(count("flowsentry_records_total")); drops: ring buffer "
        + "\(count("flowsentry_drops_total", ["where": "ring_buffer"])), queue \(count("flowsentry_drops_total", ["where": "queue"]))"
    )
    lines.append(
      "flows: open \(count("flowsentry_flows_open")), evicted \(count("flowsentry_flows_evicted_total")); "
        + "half-open attempts \(count("flowsentry_half_open_attempts_total"))")
    lines.append(
      "dns cache: \(count("flowsentry_dns_cache_entries")) entries, hits "
        + "\(count("flowsentry_dns_cache_lookups_total", ["result": "hit"])), misses "
        + "\(count("flowsentry_dns_cache_lookups_total", ["result": "miss"])); answers ignored: unsolicited "
        + "\(count("flowsentry_dns_answers_ignored_total", ["reason": "unsolicited"]))")
    let alerts = metrics.series("flowsentry_alerts_total").map {
      "\($0.labels["rule"] ?? "?") \(String(format: "%.0f", $0.value))"
    }
    lines.append(
      "rules: matches \(count("flowsentry_rule_matches_total")), alerts "
        + (alerts.isEmpty ? "0" : alerts.joined(separator: ", "))
        + ", suppressed \(count("flowsentry_alerts_suppressed_total"))")
    lines.append(
      "stdout: events \(count("flowsentry_stdout_lines_total", ["kind": "event"])), alerts "
        + "\(count("flowsentry_stdout_lines_total", ["kind": "alert"])), lost \(count("flowsentry_stdout_lines_lost_total"))"
    )
    for output in Set(metrics.series("flowsentry_output_delivered_total").compactMap { $0.labels["output"] }).sorted() {
      let name = ["output": output]
      lines.append(
        "output \(output): delivered \(count("flowsentry_output_delivered_total", name)), queued "
          + "\(count("flowsentry_output_queue_depth", name)), spooled \(count("flowsentry_output_spool_records", name)) "
          + "(\(count("flowsentry_output_spool_bytes", name)) bytes), retries \(count("flowsentry_output_retries_total", name)), "
          + "dead letters \(count("flowsentry_output_dead_letters_total", name))")
    }
    return lines.joined(separator: "\n") + "\n"
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

import ArgumentParser
import AsyncHTTPClient
import FlowsentryCore
import FlowsentryLogging
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
    // A histogram's buckets are for Prometheus; its _sum and _count say enough here.
    let samples = metrics.all.filter { !$0.name.hasSuffix("_bucket") }.map { series in
      MetricSample(
        series.name, .counter, series.value,
        labels: series.labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
        help: "")
    }
    return (["flowsentry at \(address)"] + CounterTable.lines(samples)).joined(separator: "\n") + "\n"
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

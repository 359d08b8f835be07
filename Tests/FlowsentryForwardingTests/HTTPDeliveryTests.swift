import FlowsentryCore
import FlowsentryOutput
import FlowsentryTestSupport
import Foundation
import SystemPackage
import Testing

@testable import FlowsentryForwarding

#if canImport(Glibc)
  import Glibc
#endif

/// `http_receiver.py` (beside this file), started by each test on loopback: a webhook, Splunk HEC
/// or Elasticsearch `_bulk` that fails, throttles and refuses on demand.
final class HTTPReceiver {
  static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
    "http_receiver.py"
  ).path
  let port = Rsyslog.freePort()
  let directory: URL
  private let process: ChildProcess

  init(_ arguments: [String]) throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-http-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    process = try ChildProcess(
      "/usr/bin/python3",
      [
        Self.script, "--port", String(port), "--out", directory.appendingPathComponent("accepted.jsonl").path,
        "--log", directory.appendingPathComponent("requests.jsonl").path,
      ] + arguments)
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
      let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      var address = Rsyslog.loopback(port)
      let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
      }
      close(descriptor)
      if connected { return }
      usleep(50_000)
    }
    throw RsyslogError(log: "the HTTP test receiver did not start: \(process.stderr)")
  }

  deinit {
    process.kill()
    _ = try? process.wait(timeout: .seconds(10))
    try? FileManager.default.removeItem(at: directory)
  }

  private func lines(_ name: String) -> [[String: Any]] {
    guard let text = try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8) else {
      return []
    }
    return text.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
  }

  var accepted: [[String: Any]] { lines("accepted.jsonl") }
  var requests: [[String: Any]] { lines("requests.jsonl") }

  func waitForAccepted(_ count: Int, timeout: TimeInterval = 20) -> [[String: Any]] {
    let deadline = Date().addingTimeInterval(timeout)
    while accepted.count < count && Date() < deadline { usleep(50_000) }
    return accepted
  }
}

@Suite(.serialized) struct HTTPDeliveryTests {
  let spoolRoot = FilePath(
    FileManager.default.temporaryDirectory.appendingPathComponent("fs-http-spools-\(UUID().uuidString)").path)

  func start(_ spec: String) throws -> ForwardingOutput {
    var configuration = try OutputSpecification.parse(spec)
    configuration.retryInitialMilliseconds = 50
    configuration.retryMaximumMilliseconds = 3_000
    configuration.drainTimeoutMilliseconds = 2_000
    let output = try ForwardingOutput(
      configuration: configuration, spoolDirectory: spoolRoot.appending(configuration.name), log: { _ in })
    output.start()
    return output
  }

  func send(_ alerts: [Alert], _ output: ForwardingOutput) {
    let router = OutputRouter(outputs: [output], context: EventJSON.Context(hostName: "sensor-1"), processID: 1)
    for alert in alerts { router.receive(alert) }
  }

  func deadLetters(_ output: ForwardingOutput) -> [[String: Any]] {
    let path = output.spoolDirectory.appending("dead-letter.jsonl").string
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    return text.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
  }

  @Test func aWebhookThroughOutagesThrottlingAndAPoisonedRecord() throws {
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let receiver = try HTTPReceiver([
      "--unavailable-first", "3", "--throttle-next", "1", "--poison", "POISONED",
    ])
    let output = try start("http://127.0.0.1:\(receiver.port)/hook?batch=8&gzip=true")
    var alerts = (0..<20).map { SyslogDeliveryTests.alert($0) }
    alerts[7].message = "a POISONED record"
    let started = Date()
    send(alerts, output)
    let accepted = receiver.waitForAccepted(19)
    usleep(200_000)
    output.stop()
    // Every alert but the poisoned one, each once, as the stdout schema.
    let ids = accepted.compactMap { $0["alert_id"] as? String }
    #expect(ids.sorted() == alerts.filter { $0.id != alerts[7].id }.map(\.id).sorted())
    #expect(Set(ids).count == ids.count)
    let statuses = receiver.requests.compactMap { $0["status"] as? Int }
    #expect(Array(statuses.prefix(4)) == [503, 503, 503, 429])
    #expect(receiver.requests.allSatisfy { $0["encoding"] as? String == "gzip" })
    #expect(statuses.contains(400))
    // Retry-After: 1 was honoured.
    #expect(Date().timeIntervalSince(started) >= 1)
    let letters = deadLetters(output)
    #expect(letters.count == 1)
    #expect((letters.first?["record"] as? String)?.contains("POISONED") == true)
    #expect((letters.first?["reason"] as? String)?.hasPrefix("HTTP 400") == true)
    let counters = output.counters
    #expect(counters.deadLettered == 1)
    #expect(counters.delivered == 19)
    #expect(counters.retries >= 4)
    #expect(counters.spoolPending == 0)
  }

  @Test func splunkHECGetsItsEnvelopeAndTheTokenFromAFile() throws {
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("fs-token-\(UUID().uuidString)")
    try "s3cret-token\n".write(to: tokenFile, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: tokenFile) }
    let receiver = try HTTPReceiver(["--mode", "hec", "--require-header", "Authorization:Splunk s3cret-token"])
    let output = try start(
      "http://127.0.0.1:\(receiver.port)?profile=splunk-hec&token_file=\(tokenFile.path)&format=ecs")
    let alerts = (0..<5).map { SyslogDeliveryTests.alert($0) }
    send(alerts, output)
    let accepted = receiver.waitForAccepted(5)
    output.stop()
    #expect(accepted.count == 5)
    #expect(receiver.requests.allSatisfy { $0["path"] as? String == "/services/collector/event" })
    for (envelope, alert) in zip(accepted, alerts) {
      #expect(envelope["host"] as? String == "sensor-1")
      #expect(envelope["source"] as? String == "flowsentry")
      #expect(envelope["sourcetype"] as? String == "flowsentry:alert")
      #expect((envelope["time"] as? Double).map { abs($0 - Double(alert.timestamp) / 1e9) < 0.001 } == true)
      let event = try #require(envelope["event"] as? [String: Any])
      #expect((event["event"] as? [String: Any])?["id"] as? String == alert.id)
      #expect((event["rule"] as? [String: Any])?["id"] as? String == alert.ruleID)
    }
  }

  @Test func elasticsearchBulkRetriesItemsAndStoresEachAlertOnce() throws {
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let receiver = try HTTPReceiver(["--mode", "bulk", "--item-retry-first", "2", "--poison", "POISONED"])
    let output = try start("http://127.0.0.1:\(receiver.port)?profile=elasticsearch&index=alerts&batch=5")
    var alerts = (0..<12).map { SyslogDeliveryTests.alert($0) }
    alerts[3].message = "POISONED"
    send(alerts, output)
    let accepted = receiver.waitForAccepted(11)
    usleep(300_000)
    output.stop()
    #expect(receiver.requests.allSatisfy { $0["path"] as? String == "/alerts/_bulk" })
    let ids = accepted.compactMap { $0["alert_id"] as? String }
    #expect(ids.sorted() == alerts.filter { $0.id != alerts[3].id }.map(\.id).sorted())
    #expect(deadLetters(output).count == 1)
    #expect((deadLetters(output).first?["reason"] as? String)?.contains("item HTTP 400") == true)
    #expect(output.counters.spoolPending == 0)
    #expect(output.counters.deadLettered == 1)
  }

  @Test func secretsAreNeverTakenFromTheCommandLineNorShownInErrors() {
    do {
      _ = try OutputSpecification.parse("https://siem.example?profile=splunk-hec&token=hunter2")
      Issue.record("a token on the command line was accepted")
    } catch {
      #expect(error.description.contains("use token_file or token_env"))
      #expect(!error.description.contains("hunter2"))
    }
    #expect(throws: OutputSpecificationError.self) { try OutputSpecification.parse("http://siem.example/hook") }
    #expect(throws: OutputSpecificationError.self) {
      try OutputSpecification.parse("https://es.example?profile=elasticsearch&format=cef")
    }
    let missing = OutputConfiguration.Secret.environment("FLOWSENTRY_TEST_NOT_SET")
    #expect(throws: OutputError.self) { try missing.read() }
  }
}

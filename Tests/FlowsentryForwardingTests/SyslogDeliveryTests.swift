import FlowsentryCore
import FlowsentryOutput
import FlowsentrySpool
import FlowsentryTestSupport
import Foundation
import SystemPackage
import Testing

@testable import FlowsentryForwarding

#if canImport(Glibc)
  import Glibc
#endif

/// Alerts forwarded to a real rsyslog over TCP, TLS (mutual) and UDP, through outages and restarts.
@Suite(.serialized) struct SyslogDeliveryTests {
  static let awkward = "line one\nline two \"quoted\" ] | = \\ back, Zürich ☃ 東京"

  static func alert(_ index: Int, severity: Severity = .high) -> Alert {
    let flow = FlowEvent(
      name: .netFlowTCPBegin, timestamp: 1_700_000_000_000_000_000 + Int64(index), direction: .outgoing,
      source: Endpoint(IPAddress("198.51.100.7")!, 40_000), destination: Endpoint(IPAddress("203.0.113.9")!, 443),
      destinationNames: ["evil]\"name=\\|.test"])
    return Alert(
      id: "alert-\(index)-\u{2603}\"]", timestamp: 1_700_000_000_123_456_789 + Int64(index) * 1_000,
      ruleID: "FS-TEST-\(index % 3)", ruleName: "Rule \(awkward)", severity: severity, tags: ["T1046", "a|b=c"],
      message: "message \(index): \(awkward)", group: [(field: "remote", value: "203.0.113.9")], count: 1,
      windowNanoseconds: nil, suppressed: 0, events: [.flow(flow)], eventsLeftOut: 0)
  }

  let spoolRoot = FilePath(
    FileManager.default.temporaryDirectory.appendingPathComponent("fs-spools-\(UUID().uuidString)").path)

  func output(_ configuration: OutputConfiguration, log: Log = Log()) throws -> ForwardingOutput {
    try ForwardingOutput(
      configuration: configuration, spoolDirectory: spoolRoot.appending(configuration.name),
      log: { log.append($0) })
  }

  func configuration(_ kind: OutputConfiguration.Kind, port: UInt16) -> OutputConfiguration {
    var configuration = OutputConfiguration(name: "test", kind: kind, host: "127.0.0.1", port: port)
    configuration.retryInitialMilliseconds = 50
    configuration.retryMaximumMilliseconds = 200
    configuration.drainTimeoutMilliseconds = 10_000
    configuration.connectTimeoutMilliseconds = 2_000
    return configuration
  }

  func send(_ alerts: [Alert], through output: ForwardingOutput) {
    let router = OutputRouter(
      outputs: [output], context: EventJSON.Context(hostName: "sensor-1"), processID: 4242)
    for alert in alerts { router.receive(alert) }
  }

  /// Every field of every received message, against the alert it came from.
  func expectIntact(_ messages: [[String: Any]], _ alerts: [Alert], facility: Int = 16) throws {
    #expect(messages.count == alerts.count)
    let byID = Dictionary(
      uniqueKeysWithValues: messages.compactMap { message -> (String, [String: Any])? in
        guard let fields = message["fields"] as? [String: Any], let id = fields["alert_id"] as? String else {
          return nil
        }
        return (id, message)
      })
    for alert in alerts {
      let message = try #require(byID[alert.id], "alert \(alert.id) did not arrive intact")
      #expect(message["msgid"] as? String == alert.ruleID)
      #expect(message["pri"] as? String == String(facility * 8 + 3))
      #expect(message["hostname"] as? String == "sensor-1")
      #expect(message["app"] as? String == "flowsentry")
      #expect(message["procid"] as? String == "4242")
      #expect(message["timestamp"] as? String == SyslogMessage.timestamp(alert.timestamp))
      let fields = try #require(message["fields"] as? [String: Any])
      let structured = try #require(
        (fields["rfc5424-sd"] as? [String: Any])?[SyslogMessage.structuredDataID] as? [String: Any])
      #expect(structured["alert_id"] as? String == alert.id)
      #expect(structured["rule_id"] as? String == alert.ruleID)
      #expect(structured["severity"] as? String == alert.severity.rawValue)
      // The body, parsed by rsyslog, is the alert as stdout prints it.
      let printed = try #require(
        JSONSerialization.jsonObject(
          with: Data(AlertJSON.line(for: alert, context: EventJSON.Context(hostName: "sensor-1")).utf8))
          as? [String: Any])
      for key in printed.keys {
        #expect(
          (fields[key] as? NSObject)?.isEqual(printed[key] as? NSObject) == true, "\(key) differs for \(alert.id)")
      }
    }
  }

  @Test func tcpDeliversEveryAlertIntact() throws {
    try TestEnvironment.require(.rsyslogd)
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let receiver = try Rsyslog(.tcp)
    try receiver.start()
    let output = try output(configuration(.syslogTCP, port: receiver.port))
    output.start()
    let alerts = (0..<200).map { Self.alert($0) }
    send(alerts, through: output)
    let messages = receiver.waitForMessages(alerts.count)
    output.stop()
    try expectIntact(messages, alerts)
    let counters = output.counters
    #expect(counters.delivered == 200)
    #expect(counters.spoolPending == 0)
    #expect(counters.queueDropped == 0)
    // Each delivered alert's latency was measured, from the hand-over to the receiver's ACK.
    #expect(counters.deliveryLatency.count == 200)
    #expect(counters.deliveryLatency.sum > 0 && counters.deliveryLatency.sum < 200 * 30)
    #expect(counters.deliveryLatency.quantileBound(0.5).map { $0 <= 30 } == true)
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: output.spoolDirectory.string).filter {
        $0.hasSuffix(".seg")
      }.isEmpty)
  }

  @Test func tlsWithMutualAuthenticationDeliversEveryAlertIntact() throws {
    try TestEnvironment.require(.rsyslogd)
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let certificates = try TestCertificates()
    let receiver = try Rsyslog(.tls(certificates))
    try receiver.start()
    var configuration = configuration(.syslogTLS, port: receiver.port)
    configuration.tls.caFile = certificates.ca
    configuration.tls.certificateFile = certificates.clientCertificate
    configuration.tls.keyFile = certificates.clientKey
    configuration.facility = 10
    let output = try output(configuration)
    output.start()
    let alerts = (0..<50).map { Self.alert($0) }
    send(alerts, through: output)
    let messages = receiver.waitForMessages(alerts.count)
    output.stop()
    try expectIntact(messages, alerts, facility: 10)
    #expect(output.counters.delivered == 50, "\(receiver.errors)")
  }

  @Test func tlsRefusesAReceiverItCannotVerify() throws {
    try TestEnvironment.require(.rsyslogd)
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let certificates = try TestCertificates()
    let receiver = try Rsyslog(.tls(certificates))
    try receiver.start()
    var configuration = configuration(.syslogTLS, port: receiver.port)
    configuration.tls.caFile = certificates.otherCA
    configuration.tls.certificateFile = certificates.clientCertificate
    configuration.tls.keyFile = certificates.clientKey
    configuration.drainTimeoutMilliseconds = 1_000
    let log = Log()
    let output = try output(configuration, log: log)
    output.start()
    send([Self.alert(1)], through: output)
    usleep(1_500_000)
    output.stop()
    #expect(receiver.messages().isEmpty)
    let counters = output.counters
    #expect(counters.delivered == 0)
    #expect(counters.retries > 0)
    #expect(counters.spoolPending == 1)
    #expect(log.lines.contains { $0.contains("TLS") }, "\(log.lines)")
  }

  @Test func relpDeliversEveryAlertIntactEachAnsweredByTheReceiver() throws {
    try TestEnvironment.require(.rsyslogd)
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let receiver = try Rsyslog(.relp)
    try receiver.start()
    var configuration = configuration(.relp, port: receiver.port)
    configuration.drainTimeoutMilliseconds = 500
    let output = try output(configuration)
    output.start()
    let alerts = (0..<100).map { Self.alert($0) }
    send(Array(alerts[..<60]), through: output)
    #expect(receiver.waitForMessages(60).count == 60)
    // The receiver dies; what it had not answered is sent again to the next one.
    receiver.stop()
    send(Array(alerts[60...]), through: output)
    usleep(300_000)
    #expect(output.counters.spoolPending == 40)
    try receiver.start()
    let messages = receiver.waitForMessages(100)
    usleep(200_000)
    output.stop()
    try expectIntact(messages, alerts)
    #expect(output.counters.delivered == 100)
    #expect(output.counters.spoolPending == 0)
  }

  @Test func udpSendsEachAlertAsOneDatagram() throws {
    try TestEnvironment.require(.rsyslogd)
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let receiver = try Rsyslog(.udp)
    try receiver.start()
    let output = try output(configuration(.syslogUDP, port: receiver.port))
    output.start()
    let alerts = (0..<20).map { Self.alert($0) }
    send(alerts, through: output)
    // UDP is lossy by nature; on loopback with a listening receiver nothing is lost.
    let messages = receiver.waitForMessages(alerts.count)
    output.stop()
    try expectIntact(messages, alerts)
  }

  @Test func alertsRaisedDuringAnOutageAndAcrossARestartAllArriveOnce() throws {
    try TestEnvironment.require(.rsyslogd)
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let receiver = try Rsyslog(.tcp)
    try receiver.start()
    var configuration = configuration(.syslogTCP, port: receiver.port)
    configuration.drainTimeoutMilliseconds = 300
    let first = try output(configuration)
    first.start()
    let before = (0..<10).map { Self.alert($0) }
    send(before, through: first)
    #expect(receiver.waitForMessages(10).count == 10)

    // The receiver goes away; alerts keep coming, and the sensor restarts in the middle.
    receiver.stop()
    let during = (10..<60).map { Self.alert($0) }
    send(Array(during[..<25]), through: first)
    usleep(300_000)
    first.stop()
    #expect(first.counters.spoolPending >= 25)
    let second = try output(configuration)
    #expect(second.counters.spoolPending >= 25)
    second.start()
    send(Array(during[25...]), through: second)
    usleep(300_000)
    try receiver.start()
    let messages = receiver.waitForMessages(60)
    usleep(200_000)
    second.stop()
    try expectIntact(messages, before + during)
    #expect(second.counters.spoolPending == 0)
    #expect(second.counters.retries > 0)
  }
}

import FlowsentryCore
import FlowsentryOutput
import Foundation
import SystemPackage
import Testing

@testable import FlowsentryForwarding

/// The TLS syslog output against receivers that break the connection after the handshake: it
/// reconnects as plain TCP does, never blocks, delivers every alert (or keeps it, counted), and
/// stops within its drain timeout.
@Suite(.serialized) struct TLSRecoveryTests {
  let spoolRoot = FilePath(
    FileManager.default.temporaryDirectory.appendingPathComponent("fs-tls-spools-\(UUID().uuidString)").path)

  func output(
    port: UInt16, _ certificates: TestCertificates, clientCertificate: Bool = false, serverName: String? = nil,
    log: Log = Log()
  ) throws -> ForwardingOutput {
    var configuration = OutputConfiguration(name: "tls", kind: .syslogTLS, host: "127.0.0.1", port: port)
    configuration.retryInitialMilliseconds = 50
    configuration.retryMaximumMilliseconds = 300
    configuration.drainTimeoutMilliseconds = 3_000
    configuration.connectTimeoutMilliseconds = 2_000
    configuration.tls.caFile = certificates.ca
    configuration.tls.serverName = serverName
    if clientCertificate {
      configuration.tls.certificateFile = certificates.clientCertificate
      configuration.tls.keyFile = certificates.clientKey
    }
    let output = try ForwardingOutput(
      configuration: configuration, spoolDirectory: spoolRoot.appending(configuration.name),
      log: { log.append($0) })
    output.start()
    return output
  }

  func send(_ indices: Range<Int>, _ output: ForwardingOutput) {
    let router = OutputRouter(outputs: [output], context: EventJSON.Context(hostName: "sensor-1"), processID: 7)
    for index in indices { router.receive(SyslogDeliveryTests.alert(index)) }
  }

  /// Stops the output, expecting it to end within its drain timeout (3 s) and a margin.
  func stopWithinItsLimit(_ output: ForwardingOutput) {
    let started = Date()
    output.stop()
    #expect(Date().timeIntervalSince(started) < 4.5, "stop took \(Date().timeIntervalSince(started)) s")
  }

  @Test func aReceiverDroppingTheConnectionMidStreamGetsEveryAlertOnTheNextOne() throws {
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let certificates = try TestCertificates()
    let receiver = try TLSReceiver(certificates: certificates, options: ["--drop-after", "100000"])
    try receiver.start()
    let output = try output(port: receiver.port, certificates)
    send(0..<300, output)
    #expect(receiver.waitForAlerts(300).count == 300)
    // The drop happened (the whole first burst passed 100 KB); what comes after goes on a new connection.
    send(300..<400, output)
    let received = receiver.waitForAlerts(400)
    stopWithinItsLimit(output)
    #expect(received.count == 400, "missing: \(Set(0..<400).subtracting(received).sorted().prefix(20))")
    let counters = output.counters
    #expect(counters.connections >= 2)
    #expect(counters.spoolPending == 0)
    #expect(counters.delivered == 400)
  }

  @Test func aRestartedReceiverGetsWhatCameMeanwhile() throws {
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let certificates = try TestCertificates()
    let receiver = try TLSReceiver(certificates: certificates)
    try receiver.start()
    let output = try output(port: receiver.port, certificates)
    send(0..<100, output)
    #expect(receiver.waitForAlerts(100).count == 100)
    receiver.stop()
    usleep(200_000)
    send(100..<200, output)
    usleep(500_000)
    try receiver.start()
    send(200..<300, output)
    let received = receiver.waitForAlerts(300)
    stopWithinItsLimit(output)
    #expect(received.count == 300, "missing: \(Set(0..<300).subtracting(received).sorted().prefix(20))")
    #expect(output.counters.spoolPending == 0)
    #expect(output.counters.retries > 0)
  }

  @Test func aReceiverRefusingOurCertificateGetsNothingCountedAsDelivered() throws {
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let certificates = try TestCertificates()
    let receiver = try TLSReceiver(certificates: certificates, options: ["--require-client-cert"])
    try receiver.start()
    let log = Log()
    let output = try output(port: receiver.port, certificates, log: log)
    send(0..<50, output)
    usleep(2_500_000)
    stopWithinItsLimit(output)
    #expect(receiver.messages.isEmpty)
    let counters = output.counters
    #expect(counters.delivered == 0)
    #expect(counters.spoolPending == 50)
    #expect(counters.retries >= 2, "it keeps trying (and does not wedge)")
    // With the certificate the same receiver takes all of them, spooled ones first.
    let second = try self.output(port: receiver.port, certificates, clientCertificate: true)
    let received = receiver.waitForAlerts(50)
    stopWithinItsLimit(second)
    #expect(received.count == 50)
    #expect(second.counters.delivered == 50)
  }

  @Test func serverNameIsEnforcedEvenWhenTheCertificateCarriesTheAddress() throws {
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let certificates = try TestCertificates()
    let receiver = try TLSReceiver(certificates: certificates)
    try receiver.start()
    // The certificate names localhost and 127.0.0.1, not siem.example.
    let log = Log()
    let wrong = try output(port: receiver.port, certificates, serverName: "siem.example", log: log)
    send(0..<5, wrong)
    usleep(1_000_000)
    stopWithinItsLimit(wrong)
    #expect(receiver.messages.isEmpty)
    #expect(wrong.counters.delivered == 0)
    #expect(log.lines.contains { $0.contains("siem.example") }, "\(log.lines)")
    try? FileManager.default.removeItem(atPath: spoolRoot.string)
    let right = try output(port: receiver.port, certificates, serverName: "localhost")
    send(0..<5, right)
    #expect(receiver.waitForAlerts(5).count == 5)
    stopWithinItsLimit(right)
    #expect(right.counters.delivered == 5)
  }
}

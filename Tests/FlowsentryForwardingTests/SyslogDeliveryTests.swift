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

  static func alert(_ index: Int, severity: String = "high") -> Alert {
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
      #expect(structured["severity"] as? String == alert.severity)
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
    guard Rsyslog.available() else { return }
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
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: output.spoolDirectory.string).filter {
        $0.hasSuffix(".seg")
      }.isEmpty)
  }

  @Test func tlsWithMutualAuthenticationDeliversEveryAlertIntact() throws {
    guard Rsyslog.available() else { return }
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
    guard Rsyslog.available() else { return }
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
    guard Rsyslog.available() else { return }
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
    guard Rsyslog.available() else { return }
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
    guard Rsyslog.available() else { return }
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

extension SyslogDeliveryTests {
  @Test func aDamagedSpoolIsDeliveredUpToItsDamageAndTheRestCounted() throws {
    guard Rsyslog.available() else { return }
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let configuration = configuration(.syslogTCP, port: Rsyslog.freePort())
    let alerts = (0..<10).map { Self.alert($0) }
    // A previous run's spool, as the router encodes alerts…
    let directory = spoolRoot.appending(configuration.name)
    do {
      let spool = try Spool(directory: directory)
      let syslog = SyslogMessage(facility: 16, hostName: "sensor-1", processID: 4242)
      for alert in alerts {
        var body: [UInt8] = []
        AlertJSON.append(alert, context: EventJSON.Context(hostName: "sensor-1"), to: &body)
        spool.append(syslog.message(for: alert, body: body), rank: 4, now: 0)
      }
      spool.sync()
    }
    // … then one record overwritten and a torn tail, as a power loss leaves them.
    let segment = try #require(
      try FileManager.default.contentsOfDirectory(atPath: directory.string).first { $0.hasSuffix(".seg") })
    let url = URL(fileURLWithPath: directory.appending(segment).string)
    var bytes = try [UInt8](Data(contentsOf: url))
    let fourth = try #require(
      bytes.indices.first { index in
        bytes[index...].starts(with: Array("alert-3-".utf8))
      })
    bytes[fourth + 2] ^= 0x20
    bytes += [0x31, 0x52, 0x53, 0x46, 0xff, 0xff]
    try Data(bytes).write(to: url)

    let receiver = try Rsyslog(.tcp, port: configuration.port)
    try receiver.start()
    let output = try output(configuration)
    #expect(output.counters.spool.damagedRecords == 1)
    #expect(output.counters.spool.damagedBytes == 6)
    #expect(output.counters.spoolPending == 9)
    output.start()
    let messages = receiver.waitForMessages(9)
    usleep(200_000)
    output.stop()
    var intact = alerts
    intact.remove(at: 3)
    try expectIntact(messages, intact)
    #expect(output.counters.spoolPending == 0)
  }

  @Test func ecsAndCEFBodiesArriveAsEncodedEachFormatOnce() throws {
    guard Rsyslog.available() else { return }
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let receiver = try Rsyslog(.tcp)
    try receiver.start()
    var ecs = configuration(.syslogTCP, port: receiver.port)
    ecs.name = "ecs"
    ecs.format = .ecs
    var cef = ecs
    cef.name = "cef"
    cef.format = .cef
    let outputs = [try output(ecs), try output(cef)]
    for output in outputs { output.start() }
    let alerts = (0..<5).map { Self.alert($0) }
    let router = OutputRouter(outputs: outputs, context: EventJSON.Context(hostName: "sensor-1"), processID: 1)
    for alert in alerts { router.receive(alert) }
    let messages = receiver.waitForMessages(10)
    for output in outputs { output.stop() }
    #expect(messages.count == 10)
    let fields = messages.compactMap { $0["fields"] as? [String: Any] }
    let documents = fields.filter { $0["@timestamp"] != nil }
    #expect(documents.count == 5)
    #expect(
      Set(documents.compactMap { ($0["event"] as? [String: Any])?["id"] as? String }) == Set(alerts.map(\.id)))
    #expect(documents.allSatisfy { ($0["rule"] as? [String: Any])?["name"] as? String == alerts[0].ruleName })
    // Not JSON: rsyslog keeps the body whole in msg.
    let lines = fields.compactMap { $0["msg"] as? String }
    #expect(
      Set(lines) == Set(alerts.map { CEFMessage.line(for: $0, context: EventJSON.Context(hostName: "sensor-1")) }))
  }

  @Test func recordsInFlightWhenARunDiedAreSentAgainAndCountedAsPossibleDuplicates() throws {
    guard Rsyslog.available() else { return }
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let receiver = try Rsyslog(.tcp)
    try receiver.start()
    let configuration = configuration(.syslogTCP, port: receiver.port)
    let alerts = (0..<10).map { Self.alert($0) }
    do {
      // A run that appended ten records and had handed the first six to the receiver when it died.
      let spool = try Spool(directory: spoolRoot.appending(configuration.name))
      let syslog = SyslogMessage(facility: 16, hostName: "sensor-1", processID: 4242)
      for alert in alerts {
        var body: [UInt8] = []
        AlertJSON.append(alert, context: EventJSON.Context(hostName: "sensor-1"), to: &body)
        spool.append(syslog.message(for: alert, body: body), rank: 4, now: 0)
      }
      spool.markSent(through: 6)
    }
    let output = try output(configuration)
    output.start()
    let messages = receiver.waitForMessages(10)
    usleep(200_000)
    output.stop()
    try expectIntact(messages, alerts)
    #expect(output.counters.resent == 6)
    #expect(output.counters.delivered == 10)
  }

  /// A spool on a 192 KiB tmpfs that fills up: the failed appends are counted and logged, the
  /// output keeps running, and what reached the disk is delivered. Needs root (mount).
  @Test func aFullDiskIsCountedNeverACrashOrAHang() throws {
    guard Rsyslog.available() else { return }
    guard geteuid() == 0 else {
      if ProcessInfo.processInfo.environment["FLOWSENTRY_REQUIRE_BPF"] == "1" {
        Issue.record("needs root to mount a small tmpfs")
      }
      return
    }
    let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("fs-full-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
    let mount = Process()
    mount.executableURL = URL(fileURLWithPath: "/bin/mount")
    mount.arguments = ["-t", "tmpfs", "-o", "size=192k", "tmpfs", mountPoint]
    try mount.run()
    mount.waitUntilExit()
    #expect(mount.terminationStatus == 0)
    defer {
      let unmount = Process()
      unmount.executableURL = URL(fileURLWithPath: "/bin/umount")
      unmount.arguments = [mountPoint]
      try? unmount.run()
      unmount.waitUntilExit()
      try? FileManager.default.removeItem(atPath: mountPoint)
    }
    let port = Rsyslog.freePort()
    var configuration = configuration(.syslogTCP, port: port)
    configuration.drainTimeoutMilliseconds = 200
    let log = Log()
    let output = try ForwardingOutput(
      configuration: configuration, spoolDirectory: FilePath(mountPoint).appending("siem"), log: { log.append($0) })
    output.start()
    let alerts = (0..<400).map { Self.alert($0) }
    send(alerts, through: output)
    usleep(500_000)
    let full = output.counters
    #expect(full.spool.failedAppends > 0)
    #expect(full.spoolPending > 0)
    #expect(full.spoolPending + Int(full.spool.failedAppends) + Int(full.queueDropped) == alerts.count)
    #expect(log.lines.contains { $0.contains("spool append failed") && $0.contains("No space left") }, "\(log.lines)")
    // The receiver comes back: every record that reached the disk is delivered.
    let receiver = try Rsyslog(.tcp, port: port)
    try receiver.start()
    let messages = receiver.waitForMessages(full.spoolPending)
    usleep(200_000)
    output.stop()
    #expect(messages.count == full.spoolPending)
    #expect(output.counters.delivered == UInt64(full.spoolPending))
    #expect(output.counters.spoolPending == 0)
  }

  @Test func aFileOutputWritesOneLinePerAlertAndRotatesBySize() throws {
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-file-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("alerts.jsonl").path
    var configuration = try OutputSpecification.parse("file://\(path)?max_bytes=8192&keep=3&format=ecs")
    configuration.drainTimeoutMilliseconds = 2_000
    let output = try output(configuration)
    output.start()
    let alerts = (0..<60).map { Self.alert($0) }
    send(alerts, through: output)
    let deadline = Date().addingTimeInterval(10)
    while output.counters.delivered < 60 && Date() < deadline { usleep(20_000) }
    output.stop()
    #expect(output.counters.delivered == 60)
    // Three files kept, each under the size, the oldest alerts rotated away.
    let files = [path, path + ".1", path + ".2"]
    #expect(files.allSatisfy { FileManager.default.fileExists(atPath: $0) })
    #expect(!FileManager.default.fileExists(atPath: path + ".3"))
    var ids: [String] = []
    for file in files.reversed() {
      let text = try String(contentsOfFile: file, encoding: .utf8)
      #expect(text.utf8.count <= 8192)
      for line in text.split(separator: "\n") {
        let document = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        ids += [((document["event"] as? [String: Any])?["id"] as? String) ?? "?"]
      }
    }
    #expect(ids.count > 3 && ids.count < 60)
    #expect(ids == Array(alerts.map(\.id).suffix(ids.count)))
  }

  @Test func aSensorKilledWithSIGKILLDeliversItsSpoolAtTheNextStart() throws {
    guard Rsyslog.available() else { return }
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let port = Rsyslog.freePort()
    let spec = "syslog+tcp://127.0.0.1:\(port)?name=siem"
    let capture = shippedRules + "/captures/refused-storm.pcap"
    // The receiver is down: the replay's alerts go to the spool, and the sensor is killed while
    // it waits to deliver them.
    let first = try CommandLineRun(
      ["replay", "--events", "none", "--output", spec, "--spool-dir", spoolRoot.string, capture])
    let segments = { () -> [String] in
      ((try? FileManager.default.contentsOfDirectory(atPath: self.spoolRoot.appending("siem").string)) ?? [])
        .filter { $0.hasSuffix(".seg") }
    }
    let deadline = Date().addingTimeInterval(10)
    while segments().isEmpty && Date() < deadline { usleep(50_000) }
    usleep(300_000)
    first.kill()
    #expect(!segments().isEmpty, "nothing was spooled: \(first.errors)")

    let receiver = try Rsyslog(.tcp, port: port)
    try receiver.start()
    // Started again (without rules: it raises nothing new), it sends what the killed one left.
    let second = try CommandLineRun(
      ["replay", "--no-default-rules", "--events", "none", "--output", spec, "--spool-dir", spoolRoot.string, capture])
    second.wait()
    #expect(second.status == 0, "\(second.errors)")
    #expect(second.errors.contains("2 records from a previous run to send"), "\(second.errors)")
    let messages = receiver.waitForMessages(2)
    let rules = messages.compactMap { $0["msgid"] as? String }.sorted()
    #expect(rules == ["FS-NET-001", "FS-NET-004"])
    #expect(segments().isEmpty)
  }
}

/// The flowsentry binary, run as a user runs it.
final class CommandLineRun {
  static var binary: String {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [beside.appendingPathComponent("flowsentry").path, ".build/debug/flowsentry"]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
  }

  private let process = Process()
  private let errorFile: URL

  init(_ arguments: [String]) throws {
    errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("fs-run-\(UUID().uuidString).err")
    _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
    process.executableURL = URL(fileURLWithPath: Self.binary)
    process.arguments = arguments
    process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    process.standardError = try FileHandle(forWritingTo: errorFile)
    try process.run()
  }

  deinit {
    if process.isRunning { kill() }
    try? FileManager.default.removeItem(at: errorFile)
  }

  func kill() {
    Glibc.kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
  }

  func wait() { process.waitUntilExit() }
  var status: Int32 { process.terminationStatus }
  var errors: String { (try? String(contentsOf: errorFile, encoding: .utf8)) ?? "" }
}

/// Log lines an output wrote, for tests to read.
final class Log: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: [String] = []
  func append(_ line: String) { lock.withLock { stored.append(line) } }
  var lines: [String] { lock.withLock { stored } }
}

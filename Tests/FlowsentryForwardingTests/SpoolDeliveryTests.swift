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

/// The spool at work: damage, crashes, a full disk, restarts, and the file output.
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

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
  /// A spooled record's header: magic, length, sequence, rank, payload and header checksums.
  static let frameHeaderSize = 25

  @Test func aDamagedSpoolIsDeliveredUpToItsDamageAndTheRestCounted() throws {
    try TestEnvironment.require(.rsyslogd)
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let configuration = configuration(.syslogTCP, port: Rsyslog.freePort())
    let alerts = (0..<10).map { Self.alert($0) }
    // A previous run's spool, as the router encodes alerts…
    let directory = spoolRoot.appending(configuration.name)
    let syslog = SyslogMessage(facility: 16, hostName: "sensor-1", processID: 4242)
    let payloads = alerts.map { alert in
      var body: [UInt8] = []
      AlertJSON.append(alert, context: EventJSON.Context(hostName: "sensor-1"), to: &body)
      return syslog.message(for: alert, body: body)
    }
    do {
      let spool = try Spool(directory: directory)
      for payload in payloads { spool.append(payload, rank: 4, now: 0) }
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
    // Two damaged stretches: the fourth record (its header held, its payload did not) and the tail.
    #expect(output.counters.spool.damagedRecords == 2)
    #expect(output.counters.spool.damagedBytes == UInt64(Self.frameHeaderSize + payloads[3].count + 6))
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
    try TestEnvironment.require(.rsyslogd)
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
    try TestEnvironment.require(.rsyslogd)
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

  /// A spool on a 256 KiB tmpfs: first the spool reaches its own limit (96 KiB) and makes room by
  /// rewriting segments without their low alerts; then the disk fills up, so that making room for
  /// critical alerts fails. The failed rewrites and appends are counted and logged, the output
  /// keeps running (no retry loop), and what reached the disk is delivered. Needs root (mount).
  @Test func aFullDiskIsCountedNeverACrashOrAHang() throws {
    try TestEnvironment.require(.rsyslogd, .root)
    let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("fs-full-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
    try ChildProcess.output(of: "/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mountPoint])
    defer {
      #expect(throws: Never.self) { try ChildProcess.output(of: "/bin/umount", [mountPoint]) }
      try? FileManager.default.removeItem(atPath: mountPoint)
    }
    let port = Rsyslog.freePort()
    var configuration = configuration(.syslogTCP, port: port)
    configuration.drainTimeoutMilliseconds = 200
    configuration.spool.maximumBytes = 96 << 10
    configuration.spool.segmentBytes = 16 << 10
    let log = Log()
    let output = try ForwardingOutput(
      configuration: configuration, spoolDirectory: FilePath(mountPoint).appending("siem"), log: { log.append($0) })
    output.start()
    var sent = 0
    let accounted = { () -> Bool in
      let counters = output.counters
      let dropped = counters.spool.droppedFull.reduce(0, +) + counters.spool.failedAppends + counters.queueDropped
      return counters.spoolPending + Int(dropped) == sent
    }
    let waitUntilAccounted = {
      let deadline = Date().addingTimeInterval(10)
      while !accounted() && Date() < deadline { usleep(20_000) }
    }
    // The spool at its limit: mediums push lows out, and lows fill what that freed until one is
    // dropped (so that the next, larger, critical alert needs room made).
    let lowAndMedium =
      (100..<220).map { Self.alert($0, severity: $0 % 2 == 0 ? .low : .medium) }
      + (300..<340).map { Self.alert($0, severity: .low) }
    send(lowAndMedium, through: output)
    sent += lowAndMedium.count
    waitUntilAccounted()
    let limited = output.counters
    #expect(accounted(), "\(limited)")
    #expect(limited.spool.droppedFull[2] > 0)
    #expect(limited.spool.failedRewrites == 0)
    #expect(limited.spoolBytes <= 96 << 10)

    // Then the disk is full: room for the critical alerts cannot be made.
    let filler = mountPoint + "/filler"
    #expect(FileManager.default.createFile(atPath: filler, contents: nil))
    let handle = try #require(FileHandle(forWritingAtPath: filler))
    while (try? handle.write(contentsOf: Data(count: 4096))) != nil {}
    try handle.close()
    let critical = (400..<410).map { Self.alert($0, severity: .critical) }
    send(critical, through: output)
    sent += critical.count
    waitUntilAccounted()
    let full = output.counters
    #expect(accounted(), "\(full)")
    #expect(full.spool.failedRewrites > 0)
    #expect(full.spool.failedRewrites <= 2, "rewrites are paused a second after one fails")
    #expect(full.spool.failedAppends > 0)
    #expect(full.spoolPending > 0)
    #expect(log.lines.contains { $0.contains("spool append failed") && $0.contains("No space left") }, "\(log.lines)")

    // The disk has room again and the receiver comes back: every record that reached the disk is delivered.
    #expect(unlink(filler) == 0)
    let receiver = try Rsyslog(.tcp, port: port)
    try receiver.start()
    let messages = receiver.waitForMessages(full.spoolPending)
    usleep(200_000)
    let stopping = Date()
    output.stop()
    #expect(Date().timeIntervalSince(stopping) < 5)
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
    try TestEnvironment.require(.rsyslogd)
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

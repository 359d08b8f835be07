import FlowsentryCore
import FlowsentryOutput
import Foundation
import SystemPackage
import Testing

@testable import FlowsentryForwarding
@testable import FlowsentrySpool

#if canImport(Glibc)
  import Glibc
#endif

/// Receivers that misbehave (redirect, answer without end) and configurations that would leak a
/// secret: each costs at most its own output, is counted, and never shows a secret.
@Suite(.serialized) struct OutputHardeningTests {
  let spoolRoot = FilePath(
    FileManager.default.temporaryDirectory.appendingPathComponent("fs-hardening-\(UUID().uuidString)").path)

  func start(_ spec: String, log: Log = Log()) throws -> ForwardingOutput {
    var configuration = try OutputSpecification.parse(spec)
    configuration.retryInitialMilliseconds = 50
    configuration.retryMaximumMilliseconds = 300
    configuration.drainTimeoutMilliseconds = 1_000
    let output = try ForwardingOutput(
      configuration: configuration, spoolDirectory: spoolRoot.appending(configuration.name), log: { log.append($0) })
    output.start()
    return output
  }

  func send(_ count: Int, _ output: ForwardingOutput) {
    let router = OutputRouter(outputs: [output], context: EventJSON.Context(hostName: "sensor-1"), processID: 1)
    for index in 0..<count { router.receive(SyslogDeliveryTests.alert(index)) }
  }

  @Test func aRedirectIsNotFollowedNorRetriedAndTheRecordsStaySpooled() throws {
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let elsewhere = try HTTPReceiver([])
    let receiver = try HTTPReceiver(["--redirect-to", "http://127.0.0.1:\(elsewhere.port)/hook"])
    let log = Log()
    let output = try start("http://127.0.0.1:\(receiver.port)/hook", log: log)
    send(10, output)
    usleep(1_500_000)
    let stopped = Date()
    output.stop()
    #expect(Date().timeIntervalSince(stopped) < 0.5, "a halted output does not wait out its drain timeout")
    #expect(elsewhere.requests.isEmpty)
    #expect(receiver.requests.count == 1, "a redirect is not retried: \(receiver.requests.count) requests")
    let counters = output.counters
    #expect(counters.configurationErrors == 1)
    #expect(counters.delivered == 0)
    #expect(counters.spoolPending == 10)
    #expect(log.lines.filter { $0.contains("redirect") }.count == 1, "\(log.lines)")
  }

  @Test func anEndlessAnswerIsCutAtItsCapAndCounted() throws {
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let receiver = try HTTPReceiver(["--endless-body"])
    let before = Self.residentBytes()
    let output = try start("http://127.0.0.1:\(receiver.port)/hook")
    send(3, output)
    let deadline = Date().addingTimeInterval(10)
    while output.counters.oversizedResponses < 2 && Date() < deadline { usleep(50_000) }
    output.stop()
    let counters = output.counters
    #expect(counters.oversizedResponses >= 2)
    #expect(counters.delivered == 0)
    #expect(counters.spoolPending == 3)
    #expect(counters.lastError?.contains("passed 65536 bytes") == true, "\(counters.lastError ?? "")")
    #expect(Self.residentBytes() - before < 64 << 20)
  }

  @Test func credentialsInAURLOrAHeaderAreRefusedAndNeverEchoed() throws {
    for spec in [
      "https://user:SECRET@siem.example/hook", "https://SECRET@siem.example/hook",
      "https://siem.example/hook?header=Authorization:Bearer%20SECRET",
      "https://siem.example/hook?header=proxy-authorization:SECRET",
      "https://siem.example/hook?header=Cookie:session=SECRET",
    ] {
      do {
        _ = try OutputSpecification.parse(spec)
        Issue.record("\(spec) was accepted")
      } catch {
        #expect(!error.description.contains("SECRET"), "\(error)")
        #expect(error.description.contains("_file"), "\(error)")
      }
    }
    // Every error message of a spec with a secret hides it, whatever the error.
    do {
      _ = try OutputSpecification.parse("https://siem.example/hook?header=Authorization:SECRET&bogus=1")
      Issue.record("accepted")
    } catch {
      #expect(!error.description.contains("SECRET"), "\(error)")
    }
    #expect(!OutputSpecification.redacted("https://u:SECRET@h/p?x=1").contains("SECRET"))
  }

  @Test func optionValuesArePercentDecoded() throws {
    let configuration = try OutputSpecification.parse(
      "https://siem.example/hook?header=X-Team:blue%20team%26red&index=a%2Db&name=one%2Etwo")
    #expect(configuration.http.headers["X-Team"] == "blue team&red")
    #expect(configuration.http.index == "a-b")
    #expect(configuration.name == "one.two")
    #expect(throws: OutputSpecificationError.self) { try OutputSpecification.parse("https://h/p?index=a%zz") }
    // A decoded control character is refused in a header, as it would be written.
    #expect(throws: OutputSpecificationError.self) { try OutputSpecification.parse("https://h/p?header=X-A:b%0Ac") }
  }

  @Test func aSecretFileWithANulOrInvalidBytesIsRefusedAtStartWithoutItsValue() throws {
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-secret-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let contents: [[UInt8]] = [
      Array("abc\0SECRET\n".utf8), Array("SECRET".utf8) + [0xff, 0xfe], Array("SEC\u{7}RET".utf8),
    ]
    for (index, bytes) in contents.enumerated() {
      let file = directory.appendingPathComponent("token-\(index)")
      try Data(bytes).write(to: file)
      #expect(throws: OutputError.self) { try OutputConfiguration.Secret.file(file.path).read() }
      let configuration = try OutputSpecification.parse(
        "http://127.0.0.1:9/hook?profile=splunk-hec&token_file=\(file.path)")
      do {
        _ = try ForwardingOutput(
          configuration: configuration, spoolDirectory: spoolRoot.appending("o\(index)"), log: { _ in })
        Issue.record("a token file with control characters was accepted")
      } catch {
        #expect(!error.description.contains("SECRET"), "\(error)")
        #expect(error.description.contains(file.path))
      }
    }
    setenv("FLOWSENTRY_TEST_TOKEN_WITH_NEWLINE", "abc\nSECRET", 1)
    defer { unsetenv("FLOWSENTRY_TEST_TOKEN_WITH_NEWLINE") }
    do {
      _ = try OutputConfiguration.Secret.environment("FLOWSENTRY_TEST_TOKEN_WITH_NEWLINE").read()
      Issue.record("accepted")
    } catch {
      #expect(!error.description.contains("SECRET"))
    }
  }

  @Test func aDatagramIsCutAtACharacterBoundary() throws {
    // Unit: every cut of a text of 1- to 4-byte characters is valid UTF-8, as long as it can be.
    let text = Array("a☃é東𝄞b☃☃𝄞𝄞".utf8)
    for limit in 0...text.count {
      let cut = SyslogDatagramTransport.cut(text, toBytes: limit)
      #expect(cut.count <= limit && cut.count > limit - 4)
      #expect(String(validating: cut, as: UTF8.self) != nil, "cut at \(limit)")
    }
    // Through a real socket: a message of snowmen cut at 480 bytes arrives as valid UTF-8.
    let receiver = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    defer { close(receiver) }
    var address = Rsyslog.loopback(0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(receiver, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(receiver, $0, &length) }
    }
    let transport = try SyslogDatagramTransport(
      host: "127.0.0.1", port: UInt16(bigEndian: address.sin_port), maximumSize: 480, timeoutMilliseconds: 1_000)
    for offset in 0..<3 {
      let payload = Array(String(repeating: "x", count: offset).utf8) + Array(String(repeating: "☃", count: 400).utf8)
      try transport.send([Spool.Record(sequence: UInt64(offset + 1), rank: 1, payload: payload)])
      var buffer = [UInt8](repeating: 0, count: 2_048)
      let count = buffer.withUnsafeMutableBytes { recv(receiver, $0.baseAddress, $0.count, 0) }
      #expect(count > 476 && count <= 480)
      #expect(String(validating: buffer[..<max(count, 0)], as: UTF8.self) != nil)
    }
    #expect(transport.truncated == 3)
  }

  @Test func drainingAtShutdownWaitsWithoutSpinning() throws {
    defer { try? FileManager.default.removeItem(atPath: spoolRoot.string) }
    // Nothing listens: the output holds its records and retries until its drain timeout.
    let threadsBefore = Self.outputThreads()
    let output = try start("syslog+tcp://127.0.0.1:\(Rsyslog.freePort())")
    send(5, output)
    usleep(200_000)
    let thread = try #require(Self.outputThreads().subtracting(threadsBefore).first, "the output's thread")
    let cpuBefore = Self.cpuSeconds(ofThread: thread)
    let stopped = Date()
    let done = DispatchSemaphore(value: 0)
    Thread { [output] in
      output.stop()
      done.signal()
    }.start()
    // Sampled while the output drains (its drain timeout is 1 s), before its thread ends.
    usleep(800_000)
    let cpu = Self.cpuSeconds(ofThread: thread) - cpuBefore
    done.wait()
    let waited = Date().timeIntervalSince(stopped)
    #expect(waited >= 0.8 && waited < 2.5, "\(waited) s")
    #expect(cpu < 0.2, "\(cpu) s of CPU in 0.8 s of draining")
    #expect(output.counters.spoolPending == 5)
  }

  static func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
  }

  /// This process's threads named as forwarding outputs' (`fs-out-NAME`).
  static func outputThreads() -> Set<String> {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    return Set(
      tasks.filter {
        (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8))?.hasPrefix("fs-out-") == true
      })
  }

  /// A thread's user and system time, from /proc (clock ticks of 1/100 s).
  static func cpuSeconds(ofThread thread: String) -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/task/\(thread)/stat", encoding: .utf8),
      let close = text.lastIndex(of: ")")
    else { return .infinity }
    // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return .infinity }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
  }

}

import FlowsentryCore
import FlowsentryTestSupport
import Foundation

/// The flowsentry binary, run as a user runs it, its standard error kept for the test.
final class SensorRun {
  static var binary: String {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [beside.appendingPathComponent("flowsentry").path, ".build/debug/flowsentry"]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
  }

  /// Killed (with what it started) when the run is dropped.
  private let child: ChildProcess
  /// Why `wait` gave up, for `errors`.
  private var timedOut: String?

  init(_ arguments: [String]) throws {
    child = try ChildProcess(Self.binary, arguments, stdout: .discard)
  }

  /// SIGTERM, as a supervisor's stop.
  func terminate() { child.signal(SIGTERM) }

  func kill() {
    child.kill()
    _ = try? child.wait(timeout: .seconds(10))
  }

  /// Waits for the run's end. Past `timeout` it is killed: `status` is then 137 and `errors` says so.
  func wait(timeout: Duration = .seconds(120)) {
    do { try child.wait(timeout: timeout) } catch { timedOut = "\(error)" }
  }

  var isRunning: Bool { child.isRunning }
  /// The exit code, or 128 plus the signal's number; -1 while it runs.
  var status: Int32 { child.termination?.status ?? -1 }
  var errors: String { child.stderr + (timedOut.map { "\n" + $0 } ?? "") }
}

/// Captures and a rule that raise one alert per TCP connection, for delivery tests at scale.
enum AlertCapture {
  static let rule = """
    - rule:
        id: TEST-NATS-001
        name: Every connection to the test port
        description: One alert per connection, so that a capture of N connections raises N alerts.
        severity: medium
        events: [net_flow_tcp_begin]
        condition: remote_port == 8443 or local_port == 8443
        output: "{remote}:{remote_port}"

    """

  /// `count` handshakes from distinct clients (198.51.100.0/24 and ports) to 203.0.113.80:8443,
  /// each at its own time from `start` seconds, so that every alert has its own first event time.
  static func write(count: Int, start: Int64, to path: String) throws {
    var pcap = PcapWriter(linkType: 1)
    let server = IPAddress("203.0.113.80")!
    for index in 0..<count {
      let client = IPAddress("198.51.100.\(1 + index % 250)")!
      let port = UInt16(20_000 + index / 250)
      let time = (start * 1_000_000_000) + Int64(index) * 1_000_000
      let syn = Frames.tcp(port, 8443, flags: .syn, sequence: 100)
      let synAck = Frames.tcp(8443, port, flags: [.syn, .ack], sequence: 500, ack: 101)
      let ack = Frames.tcp(port, 8443, flags: .ack, sequence: 101, ack: 501)
      pcap.add(Frames.ethernet(Frames.ipv4(client, server, protocolNumber: 6, syn)), at: time)
      pcap.add(Frames.ethernet(Frames.ipv4(server, client, protocolNumber: 6, synAck)), at: time + 100_000)
      pcap.add(Frames.ethernet(Frames.ipv4(client, server, protocolNumber: 6, ack)), at: time + 200_000)
    }
    try pcap.write(to: path)
  }
}

import FlowsentryTestSupport
import Foundation
import Testing

/// The flowsentry binary, run as a user runs it: stdout discarded, stderr kept.
final class CommandLineRun {
  static var binary: String { flowsentryBinary }

  private let child: ChildProcess

  init(_ arguments: [String]) throws {
    child = try ChildProcess(Self.binary, arguments, stdout: .discard)
  }

  /// SIGKILL, as a crash or the OOM killer ends it; returns once it is reaped.
  func kill() {
    child.kill()
    _ = try? child.wait(timeout: .seconds(10))
  }

  /// Waits for the end, at most `timeout`; after it the run is killed and the test fails.
  func wait(timeout: Duration = .seconds(120)) {
    do { try child.wait(timeout: timeout) } catch { Issue.record("\(error)") }
  }

  /// The status as a shell reports it (-1 while running).
  var status: Int32 { child.termination?.status ?? -1 }
  var errors: String { child.stderr }
}

/// Log lines an output wrote, for tests to read.
final class Log: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: [String] = []
  func append(_ line: String) { lock.withLock { stored.append(line) } }
  var lines: [String] { lock.withLock { stored } }
}

import FlowsentryTestSupport
import Foundation

/// The older name of a `ChildProcess` whose stdout the caller reads from a descriptor
/// (RemotePeerTests' `PeerProcess` reads it a line at a time). New code uses `ChildProcess`.
struct SpawnedProcess {
  let child: ChildProcess
  var pid: pid_t { child.pid }
  /// stdout's read end when `captureOutput`; `finish` reads what is left of it.
  var output: Int32? { child.stdoutPipe }

  /// Starts `executable`; its stdout is readable through `output` when `captureOutput`, else discarded.
  init(_ executable: String, _ arguments: [String], captureOutput: Bool) throws {
    child = try ChildProcess(executable, arguments, stdout: captureOutput ? .pipe : .discard, stderr: .discard)
  }

  /// Reads stdout to its end, then waits; returns (exit status, stdout).
  func finish(timeout: Duration = .seconds(60)) -> (status: Int32, output: String) {
    var bytes: [UInt8] = []
    let deadline = ContinuousClock.now + timeout
    if let output {
      var chunk = [UInt8](repeating: 0, count: 4096)
      while true {
        // Past the deadline the child is killed (with what it started), which ends the stream.
        var ready = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
        let waitMilliseconds = max(0, (deadline - ContinuousClock.now).timeInterval * 1000)
        if poll(&ready, 1, Int32(min(waitMilliseconds, 60_000))) == 0 { child.kill() }
        let count = read(output, &chunk, chunk.count)
        if count > 0 {
          bytes += chunk[0..<count]
        } else if count < 0 && errno == EINTR {
          continue
        } else {
          break
        }
      }
    }
    let termination = (try? child.wait(timeout: timeout)) ?? .signaled(SIGKILL)
    return (termination.status, String(decoding: bytes, as: UTF8.self))
  }

  func terminate() {
    child.signal(SIGTERM)
    _ = finish()
  }
}

/// Runs a command to completion and returns its stdout; throws when it fails.
@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> String {
  try ChildProcess.output(of: executable, arguments)
}

import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Child processes for tests through posix_spawn and waitpid: Foundation's Process can deadlock
/// in waitUntilExit on Linux while other children come and go.
struct SpawnedProcess {
  let pid: pid_t
  let output: Int32?

  /// Starts `executable`; its stdout is readable through `output` when `captureOutput`, else discarded.
  init(_ executable: String, _ arguments: [String], captureOutput: Bool) throws {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    var pipeEnds: [Int32] = [-1, -1]
    if captureOutput {
      guard pipe(&pipeEnds) == 0 else { throw SocketError("pipe", errno) }
      posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
      posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
    } else {
      posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    }
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    // The test runner's threads block signals; a child must not inherit that, or it ignores SIGTERM.
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    posix_spawnattr_setsigmask(&attributes, &noSignals)
    posix_spawnattr_setsigdefault(&attributes, &allSignals)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var child: pid_t = 0
    let status = posix_spawn(&child, executable, &actions, &attributes, argv, environ)
    if captureOutput { close(pipeEnds[1]) }
    guard status == 0 else {
      if captureOutput { close(pipeEnds[0]) }
      throw SocketError("spawn \(executable)", status)
    }
    pid = child
    output = captureOutput ? pipeEnds[0] : nil
  }

  /// Reads stdout to its end, then waits; returns (exit status, stdout).
  func finish() -> (status: Int32, output: String) {
    var bytes: [UInt8] = []
    if let output {
      var chunk = [UInt8](repeating: 0, count: 4096)
      while true {
        let count = read(output, &chunk, chunk.count)
        if count > 0 {
          bytes += chunk[0..<count]
        } else if count < 0 && errno == EINTR {
          continue
        } else {
          break
        }
      }
      close(output)
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exited = status & 0x7f == 0
    return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), String(decoding: bytes, as: UTF8.self))
  }

  func terminate() {
    kill(pid, SIGTERM)
    _ = finish()
  }
}

/// Runs a command to completion and returns its stdout; throws when it fails.
@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> String {
  let result = try SpawnedProcess(executable, arguments, captureOutput: true).finish()
  guard result.status == 0 else {
    throw MissingValue(description: "\(executable) \(arguments.joined(separator: " ")) exited with \(result.status)")
  }
  return result.output
}

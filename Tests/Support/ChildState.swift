import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// What a child's reaper and reader threads learned, behind one condition that waiters sleep on.
/// The threads hold this, not the `ChildProcess`, so that dropping the process kills and still reaps it.
public final class ChildState: @unchecked Sendable {
  public struct Captured: Sendable {
    public internal(set) var bytes: [UInt8] = []
    /// Bytes past the limit: read (so the child never blocks) and not kept.
    public internal(set) var dropped = 0

    mutating func append(_ chunk: ArraySlice<UInt8>, limit: Int) {
      let room = max(0, limit - bytes.count)
      bytes += chunk.prefix(room)
      dropped += chunk.count - min(room, chunk.count)
    }
  }

  public struct Streams: Sendable {
    public internal(set) var stdout = Captured()
    public internal(set) var stderr = Captured()
    public internal(set) var termination: Termination?
    var openStreams = 0
    /// Reaped, and every captured stream at its end.
    var ended: Bool { termination != nil && openStreams == 0 }
  }

  private let condition = NSCondition()
  private var streams = Streams()
  private let limit: Int

  init(limit: Int) { self.limit = limit }

  func withLock<T>(_ body: (inout Streams) -> T) -> T {
    condition.lock()
    defer { condition.unlock() }
    return body(&streams)
  }

  private func update(_ body: (inout Streams) -> Void) {
    condition.lock()
    body(&streams)
    condition.broadcast()
    condition.unlock()
  }

  /// The termination once `ended`, or nil at the deadline.
  func waitForEnd(until deadline: Date) -> Termination? {
    condition.lock()
    defer { condition.unlock() }
    while !streams.ended {
      guard condition.wait(until: deadline) else { return nil }
    }
    return streams.termination
  }

  func startReaping(_ pid: pid_t) {
    Thread.detachNewThread { [self] in
      var status: Int32 = 0
      var result: pid_t
      repeat { result = waitpid(pid, &status, 0) } while result < 0 && errno == EINTR
      // waitpid fails only for a pid that is not our child, which posix_spawn just made ours.
      precondition(result == pid, "waitpid(\(pid)): \(String(cString: strerror(errno)))")
      update { $0.termination = Termination(waitStatus: status) }
    }
  }

  func startReading(_ descriptor: Int32, stdout: Bool) {
    update { $0.openStreams += 1 }
    Thread.detachNewThread { [self] in
      var chunk = [UInt8](repeating: 0, count: 65_536)
      while true {
        let count = read(descriptor, &chunk, chunk.count)
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { break }  // the end, or an error that ends the stream just the same
        update { streams in
          if stdout {
            streams.stdout.append(chunk[0..<count], limit: limit)
          } else {
            streams.stderr.append(chunk[0..<count], limit: limit)
          }
        }
      }
      close(descriptor)
      update { $0.openStreams -= 1 }
    }
  }
}

import FlowsentryCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The host's listening TCP sockets, from /proc/net/tcp and tcp6, re-read at most once a second.
/// Used only to orient flows that began before the monitor (their handshake was not seen).
public final class ListeningSockets: Sendable {
  private struct Snapshot {
    var endpoints: Set<Endpoint> = []
    var wildcardPorts: Set<UInt16> = []
    var readAt: Int64?
  }

  private let snapshot = Mutex(Snapshot())
  private let files: [String]

  public init(files: [String] = ["/proc/net/tcp", "/proc/net/tcp6"]) {
    self.files = files
  }

  public func isListening(_ endpoint: Endpoint) -> Bool {
    snapshot.withLock { current in
      let now = monotonicNanoseconds()
      if current.readAt.map({ now - $0 > 1_000_000_000 }) ?? true {
        current = read()
        current.readAt = now
      }
      return current.endpoints.contains(endpoint) || current.wildcardPorts.contains(endpoint.port)
    }
  }

  private func read() -> Snapshot {
    var result = Snapshot()
    for file in files {
      guard let text = try? readTextFile(file) else { continue }
      for line in text.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ")
        // fields: sl local_address rem_address st ...; state 0A is LISTEN.
        guard fields.count > 3, fields[3] == "0A", let endpoint = Self.parseProcEndpoint(fields[1]) else { continue }
        if endpoint.address == .v4(0) || endpoint.address == .v6(high: 0, low: 0) {
          result.wildcardPorts.insert(endpoint.port)
        } else {
          result.endpoints.insert(endpoint)
        }
      }
    }
    return result
  }

  /// "0100007F:1F90": the address as 32-bit words in host (little-endian) order, the port in hex.
  static func parseProcEndpoint(_ text: Substring) -> Endpoint? {
    let parts = text.split(separator: ":")
    guard parts.count == 2, let port = UInt16(parts[1], radix: 16) else { return nil }
    let hex = Array(parts[0].utf8)
    guard hex.count == 8 || hex.count == 32 else { return nil }
    var bytes: [UInt8] = []
    for word in stride(from: 0, to: hex.count, by: 8) {
      guard let value = UInt32(String(decoding: hex[word..<word + 8], as: UTF8.self), radix: 16) else {
        return nil
      }
      bytes += [UInt8(value & 0xff), UInt8(value >> 8 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 24)]
    }
    return IPAddress(bytes: bytes).map { Endpoint($0, port) }
  }
}

func monotonicNanoseconds() -> Int64 {
  var now = timespec()
  clock_gettime(CLOCK_MONOTONIC, &now)
  return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// Adds to a CLOCK_BOOTTIME reading (what eBPF programs stamp) to get wall-clock time.
func bootTimeNanoseconds() -> Int64 {
  var boot = timespec()
  clock_gettime(CLOCK_BOOTTIME, &boot)
  return Int64(boot.tv_sec) * 1_000_000_000 + Int64(boot.tv_nsec)
}

func bootTimeToWallClockOffset() -> Int64 {
  var wall = timespec()
  var boot = timespec()
  clock_gettime(CLOCK_REALTIME, &wall)
  clock_gettime(CLOCK_BOOTTIME, &boot)
  return (Int64(wall.tv_sec) - Int64(boot.tv_sec)) * 1_000_000_000 + Int64(wall.tv_nsec) - Int64(boot.tv_nsec)
}

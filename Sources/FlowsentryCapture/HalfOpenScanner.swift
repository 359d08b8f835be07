import CFlowsentryLibbpf
import CFlowsentryRecord
import FlowsentryCore

/// Turns the kernel's per-remote counts of incoming SYNs and completed handshakes (fs_half_open)
/// into half-open attempts: SYNs that a listener answered but that never became a connection.
///
/// Runs on the reader thread once a second. A remote whose last SYN is older than `settleNanoseconds`
/// is settled: what its handshakes did not account for is reported and its entry deleted. A remote
/// still sending (a flood) is reported as it goes, less `inFlightAllowance` handshakes that may
/// still complete. The kernel map is LRU-bounded; this side keeps at most one number per entry.
struct HalfOpenScanner {
  var settleNanoseconds: Int64 = 3_000_000_000
  var inFlightAllowance: Int64 = 32
  /// Entries visited per scan at most: the map's size, so that a walk ends even if the map changes.
  var visitLimit = Int(FS_HALF_OPEN_REMOTES)
  private(set) var reportedAttempts: UInt64 = 0
  /// Scans the kernel refused (an errno from the map walk): their remotes wait for the next scan.
  private(set) var failedScans: UInt64 = 0
  /// Attempts already reported per remote still present in the kernel map.
  private var reported: [HalfOpenKey: Int64] = [:]
  private var found: [HalfOpenObservation] = []
  private var seen: Set<HalfOpenKey> = []
  private var now: Int64 = 0
  private var clockOffset: Int64 = 0

  struct HalfOpenKey: Hashable {
    var family: UInt8
    var high: UInt64
    var low: UInt64
    var networkNamespace: UInt64
  }

  /// Scans the map and returns the half-open attempts found, one observation per remote.
  mutating func scan(_ probe: KernelProbe, bootNow: Int64, clockOffset: Int64) -> [HalfOpenObservation] {
    now = bootNow
    self.clockOffset = clockOffset
    found.removeAll(keepingCapacity: true)
    seen.removeAll(keepingCapacity: true)
    let limit = visitLimit
    let walk = withUnsafeMutablePointer(to: &self) { scanner in
      probe.scanHalfOpen(context: UnsafeMutableRawPointer(scanner), visitLimit: limit) { context, key, value in
        guard let context, let key, let value else { return 0 }
        let scanner = context.assumingMemoryBound(to: HalfOpenScanner.self)
        return scanner.pointee.visit(key.pointee, value.pointee) ? 1 : 0
      }
    }
    switch walk {
    case .success(true):
      // Entries the kernel evicted (LRU) or that were deleted: forget what was reported for them.
      if reported.count > seen.count { reported = reported.filter { seen.contains($0.key) } }
    case .success(false):
      // Cut at the limit: a remote not reached is still in the map, and what it was sent stands.
      break
    case .failure:
      failedScans += 1
    }
    return found
  }

  private static func address(_ family: UInt8, _ words: (UInt64, UInt64)) -> IPAddress {
    family == UInt8(FS_FAMILY_IPV4.rawValue)
      ? .v4(UInt32(truncatingIfNeeded: words.0 >> 32)) : .v6(high: words.0, low: words.1)
  }

  private mutating func visit(_ key: fs_half_open_key, _ value: fs_half_open_value) -> Bool {
    let address = withUnsafeBytes(of: key.address) { bytes -> (UInt64, UInt64) in
      (
        UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)),
        UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
      )
    }
    let id = HalfOpenKey(family: key.family, high: address.0, low: address.1, networkNamespace: key.netns_cookie)
    seen.insert(id)
    let unanswered = Int64(truncatingIfNeeded: value.syns &- value.established)
    let already = reported[id] ?? 0
    let settled = now - Int64(truncatingIfNeeded: value.last_syn_ns) > settleNanoseconds
    let fresh = unanswered - already - (settled ? 0 : inFlightAllowance)
    if fresh > 0 {
      let local = withUnsafeBytes(of: value.last_local_address) { bytes -> (UInt64, UInt64) in
        (
          UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)),
          UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        )
      }
      found.append(
        HalfOpenObservation(
          timestamp: Int64(truncatingIfNeeded: value.last_syn_ns) &+ clockOffset,
          remote: Endpoint(Self.address(key.family, address), value.last_remote_port),
          local: Endpoint(Self.address(key.family, local), value.last_port), attempts: UInt64(fresh),
          networkNamespace: key.netns_cookie))
      reportedAttempts += UInt64(fresh)
      reported[id] = already + fresh
    }
    if settled {
      reported[id] = nil
      return true
    }
    return false
  }
}

import Foundation

/// The tag in a test host's names (`fs-test-TAG`, `fshTAG`, `fspTAG`): which run made it (its pid
/// and that process's start time, so a later process given the same pid is not taken for the run)
/// and a count of the run's hosts. Twelve base-36 digits, so that `fsh` and the tag fit IFNAMSIZ's
/// 15 characters, packing 22 bits of pid (PID_MAX_LIMIT is 2^22), 4 of count and 36 of start time
/// (clock ticks: 21 years of uptime at 100 Hz; past that the start time wraps and only its low 36
/// bits are compared).
struct TestHostTag: Hashable, CustomStringConvertible {
  static let length = 12
  static let countLimit = 16
  static let startTimeMask: UInt64 = (1 << 36) - 1

  let pid: Int32
  let startTime: UInt64
  let count: Int

  /// `pid` must be below 2^22 (every Linux pid is) and `count` below `countLimit`; the start time is
  /// cut to its low 36 bits.
  init(pid: Int32, startTime: UInt64, count: Int) {
    precondition((0..<(1 << 22)).contains(pid) && (0..<Self.countLimit).contains(count))
    self.pid = pid
    self.startTime = startTime & Self.startTimeMask
    self.count = count
  }

  /// nil for any other name (the older `pid-count` tags among them).
  init?(_ text: Substring) {
    guard text.utf8.count == Self.length,
      text.utf8.allSatisfy({
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
      }),
      let packed = UInt64(text, radix: 36), packed < 1 << 62
    else { return nil }
    self.init(pid: Int32(packed >> 4 & 0x3F_FFFF), startTime: packed >> 26, count: Int(packed & 0xF))
  }

  var description: String {
    let packed = startTime << 26 | UInt64(pid) << 4 | UInt64(count)
    let digits = String(packed, radix: 36)
    return String(repeating: "0", count: Self.length - digits.count) + digits
  }

  /// Whether the hosts of this tag are leftovers, to be removed: `thisRun`'s that `held` does not
  /// hold, or those of a run that is gone, whose pid no process has or one that started at another
  /// time has. A process /proc says nothing of counts as the run, alive.
  func isLeftover(thisRun: TestHostRun, held: Set<TestHostTag>, lookup: (Int32) -> ProcessLookup) -> Bool {
    if TestHostRun(pid: pid, startTime: startTime) == thisRun { return !held.contains(self) }
    switch lookup(pid) {
    case .gone: return true
    case .alive(_, _, let processStart): return processStart & Self.startTimeMask != startTime
    case .unknown: return false
    }
  }
}

/// A process that makes test hosts, as the tags name it.
struct TestHostRun: Equatable {
  let pid: Int32
  /// The low 36 bits of the start time (`TestHostTag`).
  let startTime: UInt64

  init(pid: Int32, startTime: UInt64) {
    self.pid = pid
    self.startTime = startTime & TestHostTag.startTimeMask
  }

  /// This process, from its /proc stat; a failure when /proc does not say.
  static let current: Result<TestHostRun, TestHostTurnTrait.LockFailure> = {
    let pid = getpid()
    guard case .alive(_, _, let startTime) = ProcessLookup.of(pid) else {
      return .failure(.init(description: "cannot read this process's start time from /proc/\(pid)/stat"))
    }
    return .success(TestHostRun(pid: pid, startTime: startTime))
  }()
}

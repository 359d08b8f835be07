import Foundation

/// What the holder of the test-host turn writes in the lock file: its pid and start time (field 22
/// of /proc/PID/stat, clock ticks after boot), `pid starttime` on a line of its own, so that a
/// waiter names it only while /proc shows that same process. Older code wrote the pid alone.
struct TestHostTurnHolder: Equatable {
  /// The longest record: 7 digits of pid, a space, 20 of start time and the newline.
  static let recordLimit = 29

  let pid: Int32
  /// nil in a record of older code, which wrote no start time.
  let startTime: UInt64?

  /// This process, from its /proc stat.
  static func current() throws -> TestHostTurnHolder {
    let pid = getpid()
    let lookup = ProcessLookup.of(pid)
    guard case .alive(_, _, let startTime) = lookup else {
      throw TestHostTurnTrait.LockFailure(
        description: "cannot read this process's start time from /proc/\(pid)/stat (\(lookup.summary))")
    }
    return TestHostTurnHolder(pid: pid, startTime: startTime)
  }

  var record: String { startTime.map { "\(pid) \($0)\n" } ?? "\(pid)\n" }

  /// The whole of `bytes` as a record: a pid in decimal, then, after one space, a start time, then a
  /// newline; or the bare pid line of older code. nil for anything else, or a number no pid can be
  /// (0, or PID_MAX_LIMIT, 2^22, and above).
  init?(record bytes: ArraySlice<UInt8>) {
    guard bytes.last == UInt8(ascii: "\n") else { return nil }
    let fields = bytes.dropLast().split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
    guard (1...2).contains(fields.count), let pid = Self.number(fields[0], digits: 7).flatMap(Int32.init(exactly:)),
      (1..<(1 << 22)).contains(pid)
    else { return nil }
    if fields.count == 1 {
      self.init(pid: pid, startTime: nil)
    } else if let startTime = Self.number(fields[1], digits: 20) {
      self.init(pid: pid, startTime: startTime)
    } else {
      return nil
    }
  }

  init(pid: Int32, startTime: UInt64?) {
    self.pid = pid
    self.startTime = startTime
  }

  /// Decimal digits only (no sign, no space), at most `digits` of them, that fit a UInt64.
  private static func number(_ text: ArraySlice<UInt8>, digits: Int) -> UInt64? {
    guard (1...digits).contains(text.count), text.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
    else { return nil }
    return UInt64(String(decoding: text, as: UTF8.self))
  }

  /// How a waiter names the holder from the file's `record`, asking `lookup` about its pid. The
  /// kernel releases a gone process's lock, so a record whose process is gone, or whose pid another
  /// process has since, was left by an earlier holder: the one now is between taking the lock and
  /// writing, or is of older code that writes nothing. (An earlier holder that still runs is named
  /// in that instant between another's lock and write.)
  static func describe(record: TestHostTurnHolder?, lookup: (Int32) -> ProcessLookup) -> String {
    guard let record else { return "a process that wrote no pid in it (a run of older code?)" }
    let pid = record.pid
    let process = lookup(pid)
    switch (process, record.startTime) {
    case (.gone, _):
      return "a process that wrote no pid (pid \(pid), which did, is gone)"
    case (.alive(_, _, let startTime), let recorded?) where startTime != recorded:
      return "a process that wrote no pid (pid \(pid), which did, is gone; a later process has its pid)"
    case (.alive, _?):
      return "pid \(pid) (\(process.summary))"
    case (.unknown, _?):
      return "pid \(pid) if it still runs (\(process.summary))"
    case (_, nil):
      return
        "pid \(pid) (\(process.summary)) unless a later process has its pid: older code wrote it, without a start time"
    }
  }
}

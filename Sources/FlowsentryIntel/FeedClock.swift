#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A moment on the clock the kernel takes file times from (`CLOCK_REALTIME`), to nanoseconds.
struct FileClockInstant: Sendable, Comparable {
  var seconds: Int
  var nanoseconds: Int

  init(seconds: Int, nanoseconds: Int) {
    self.seconds = seconds
    self.nanoseconds = nanoseconds
  }

  init(_ time: timespec) { self.init(seconds: time.tv_sec, nanoseconds: time.tv_nsec) }

  /// `seconds` later (earlier when negative), saturating.
  func advanced(bySeconds seconds: Int) -> FileClockInstant {
    let (sum, overflowed) = self.seconds.addingReportingOverflow(seconds)
    return FileClockInstant(seconds: overflowed ? (seconds < 0 ? .min : .max) : sum, nanoseconds: nanoseconds)
  }

  /// The time from `earlier` to this instant (negative when it is later).
  func since(_ earlier: FileClockInstant) -> Duration {
    .seconds(seconds) - .seconds(earlier.seconds) + .nanoseconds(nanoseconds) - .nanoseconds(earlier.nanoseconds)
  }

  static func < (left: Self, right: Self) -> Bool {
    (left.seconds, left.nanoseconds) < (right.seconds, right.nanoseconds)
  }
}

/// When a feed was read or checked: the file-time clock, and beside it `CLOCK_BOOTTIME`, which no
/// one sets, so that a wall clock stepped between two readings shows.
struct FeedClockReading: Sendable {
  var realtime: FileClockInstant
  var sinceBoot: Duration

  init(realtime: FileClockInstant, sinceBoot: Duration) {
    self.realtime = realtime
    self.sinceBoot = sinceBoot
  }

  /// Now; the epoch on both clocks if either cannot be read, which trusts no file unread.
  static var now: FeedClockReading {
    var realtime = timespec()
    var boottime = timespec()
    guard clock_gettime(CLOCK_REALTIME, &realtime) == 0, clock_gettime(CLOCK_BOOTTIME, &boottime) == 0 else {
      return FeedClockReading(realtime: FileClockInstant(seconds: 0, nanoseconds: 0), sinceBoot: .zero)
    }
    return FeedClockReading(
      realtime: FileClockInstant(realtime), sinceBoot: .seconds(boottime.tv_sec) + .nanoseconds(boottime.tv_nsec))
  }

  /// `seconds` later on both clocks (earlier when negative): a test's reading, ahead of the files' times.
  func advanced(bySeconds seconds: Int) -> FeedClockReading {
    FeedClockReading(realtime: realtime.advanced(bySeconds: seconds), sinceBoot: sinceBoot + .seconds(seconds))
  }

  /// How far the two clocks may part between readings before the wall clock counts as stepped. NTP
  /// slews CLOCK_BOOTTIME with CLOCK_REALTIME, so only a step parts them (`clock_settime`, a large
  /// correction, a resume from suspend), whatever the time between the readings.
  static let clockStepTolerance = Duration.seconds(1)

  /// Whether the wall clock ran as the boot clock did from this reading to `later`: not back, nor
  /// stepped by more than `clockStepTolerance`. A file time measured against a reading before a step
  /// back would let a later write look older than that reading.
  func wallClockRanSteadily(until later: FeedClockReading) -> Bool {
    guard later.realtime >= realtime else { return false }
    let parted = later.realtime.since(realtime) - (later.sinceBoot - sinceBoot)
    return parted <= Self.clockStepTolerance && parted >= .zero - Self.clockStepTolerance
  }
}

extension FeedFileIdentity {
  /// Whether the file was last written (or its times set) more than `LoadedFeeds.racyWindowSeconds`
  /// before `reading`, so that any write after it moves its times, and the wall clock ran steadily
  /// from `reading` to `now` (a step back would let a later write carry older times). The later of
  /// the modification and change times counts: a modification time set back or ahead (`touch`,
  /// `curl -R`) still moves the change time, and one set in the future keeps the file read every check.
  func isSettled(before reading: FeedClockReading, checkedAt now: FeedClockReading) -> Bool {
    reading.wallClockRanSteadily(until: now)
      && max(FileClockInstant(modified), FileClockInstant(changed))
        < reading.realtime.advanced(bySeconds: -LoadedFeeds.racyWindowSeconds)
  }
}

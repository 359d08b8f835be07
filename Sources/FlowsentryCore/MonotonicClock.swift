#if canImport(Glibc)
  import Glibc
#endif

/// CLOCK_MONOTONIC: for intervals and deadlines, never for times shown to anyone.
public enum MonotonicClock {
  /// Nanoseconds since an arbitrary start (boot, on Linux); suspend time not included.
  @inlinable
  public static func nanoseconds() -> Int64 {
    var time = timespec()
    // Cannot fail for CLOCK_MONOTONIC with a valid pointer (clock_gettime(2): EINVAL, EFAULT only).
    let result = clock_gettime(CLOCK_MONOTONIC, &time)
    precondition(result == 0, "clock_gettime(CLOCK_MONOTONIC) failed")
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
  }

  /// The same clock in seconds, for rates and summaries.
  @inlinable
  public static func seconds() -> Double { Double(nanoseconds()) / 1e9 }
}

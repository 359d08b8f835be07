#if canImport(Glibc)
  import Glibc
#endif

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

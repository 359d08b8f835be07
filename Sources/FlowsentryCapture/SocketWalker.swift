import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// Finds the network namespaces the watched cgroup's processes use, for the socket walk: an
/// iter/tcp iterator sees only the namespace it is opened in, so containers need one walk each.
///
/// Reads `cgroup.procs` of the cgroup and the cgroups below it, and each process's
/// /proc/PID/ns/net, deduplicated by inode. Bounded: `maximumCgroups` directories,
/// `maximumProcesses` processes, `maximumNamespaces` namespaces per walk; what a bound cut is counted.
struct NamespaceFinder {
  var maximumCgroups = 4096
  var maximumProcesses = 65_536
  var maximumNamespaces = 256
  /// Walks that reached a bound before they had seen every process.
  private(set) var truncatedSearches: UInt64 = 0

  /// Namespace files of the cgroup's processes other than this thread's own (the caller walks that
  /// one without entering it), opened read-only; the caller closes them.
  mutating func otherNamespaces(of cgroup: CgroupDirectory) -> [FileDescriptor] {
    var own = stat()
    guard stat("/proc/thread-self/ns/net", &own) == 0 else { return [] }
    var seen: Set<UInt64> = [UInt64(own.st_ino)]
    var found: [FileDescriptor] = []
    var directories = [cgroup.path]
    var visitedDirectories = 0
    var visitedProcesses = 0
    var truncated = false
    while let directory = directories.popLast() {
      guard visitedDirectories < maximumCgroups else {
        truncated = true
        break
      }
      visitedDirectories += 1
      if let processes = try? readTextFile(directory + "/cgroup.procs") {
        for line in processes.split(separator: "\n") {
          guard visitedProcesses < maximumProcesses, found.count < maximumNamespaces else {
            truncated = true
            break
          }
          visitedProcesses += 1
          let path = "/proc/\(line)/ns/net"
          var status = stat()
          // A process gone since cgroup.procs was read has nothing left to walk.
          guard stat(path, &status) == 0, seen.insert(UInt64(status.st_ino)).inserted else { continue }
          if let descriptor = try? FileDescriptor.open(path, .readOnly, options: .closeOnExec) {
            found.append(descriptor)
          }
        }
      }
      directories += Self.subdirectories(of: directory)
    }
    if truncated { truncatedSearches += 1 }
    return found
  }

  private static func subdirectories(of path: String) -> [String] {
    guard let directory = opendir(path) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
      guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
      let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name != "." && name != ".." { names.append(path + "/" + name) }
    }
    return names
  }
}

/// What the socket walks did, for the statistics.
public struct SocketWalkStatistics: Sendable, Equatable {
  /// Walks done (each over every namespace found).
  public var walks: UInt64 = 0
  /// Open sockets of the cgroup reported by the walks.
  public var sockets: UInt64 = 0
  /// Namespaces whose walk failed (the process left, or the kernel refused): walked again next time.
  public var failedNamespaces: UInt64 = 0
  /// Namespace searches cut by a bound (too many cgroups, processes or namespaces).
  public var truncatedNamespaceSearches: UInt64 = 0
  /// The last walk: namespaces walked, sockets found, and the walking thread's CPU time (kernel
  /// iterator, read(2) and decoding).
  public var lastNamespaces: UInt64 = 0
  public var lastSockets: UInt64 = 0
  public var lastCPUNanoseconds: UInt64 = 0
  /// Of that, in the kernel (the iterator and its program, read(2), setns(2)).
  public var lastSystemNanoseconds: UInt64 = 0

  public init() {}
}

/// This thread's CPU time in the kernel, in nanoseconds (microsecond resolution).
func threadSystemNanoseconds() -> UInt64 {
  var usage = rusage()
  // RUSAGE_THREAD (1, Linux) is defined only under _GNU_SOURCE, which Swift's Glibc module lacks.
  guard getrusage(__rusage_who_t(1), &usage) == 0 else { return 0 }
  return UInt64(usage.ru_stime.tv_sec) * 1_000_000_000 + UInt64(usage.ru_stime.tv_usec) * 1_000
}

/// This thread's CPU time (user and system), in nanoseconds.
func threadCPUNanoseconds() -> UInt64 {
  var time = timespec()
  guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time) == 0 else { return 0 }
  return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

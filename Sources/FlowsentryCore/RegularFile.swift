#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Opens a path for reading only when it names a regular file. Opening is what a device acts on
/// (`/dev/watchdog` arms on open) and what a FIFO would wait on, so the path is first opened with
/// `O_PATH`, which neither device nor FIFO sees, and that descriptor is the one examined; the file is
/// then opened for reading through the descriptor (`/proc/self/fd/N`), not through the path, which
/// may name another file by then (by the path again where /proc is missing, and off Linux).
/// Non-blocking and without a controlling terminal all the same.
public enum RegularFile {
  /// Why a path was not opened: the system's message, or what the path names instead of a file.
  public struct Failure: Error, Sendable {
    public var reason: String
  }

  /// A descriptor the caller closes, and the file's status as opened. A file of more than
  /// `maximumBytes` is refused, before anything is read of it.
  public static func openForReading(
    _ path: String, maximumBytes: Int = .max
  ) throws(Failure) -> (descriptor: Int32, status: stat) {
    try openForReading(path, maximumBytes: maximumBytes, afterCheck: {})
  }

  /// `afterCheck` runs between the examination and the open for reading, where a test swaps the path.
  static func openForReading(
    _ path: String, maximumBytes: Int, afterCheck: () -> Void
  ) throws(Failure) -> (descriptor: Int32, status: stat) {
    let reading = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY
    var named = stat()
    #if os(Linux)
      let located = open(path, pathOnly | O_CLOEXEC)
      guard located >= 0 else { throw Failure(reason: systemError()) }
      defer { _ = close(located) }
      guard fstat(located, &named) == 0 else { throw Failure(reason: systemError()) }
      try check(named, maximumBytes: maximumBytes)
      afterCheck()
      var descriptor = open("/proc/self/fd/\(located)", reading)
      // Without /proc (a chroot, a bare container) the file is opened by its path, as before there
      // was a reopen: the window between the check and the open is back, the checks below remain.
      if descriptor < 0 && errno == ENOENT && access("/proc/self/fd", F_OK) != 0 { descriptor = open(path, reading) }
    #else
      // No O_PATH here: the path is examined, then opened (the window the Linux reopen closes).
      guard stat(path, &named) == 0 else { throw Failure(reason: systemError()) }
      try check(named, maximumBytes: maximumBytes)
      afterCheck()
      let descriptor = open(path, reading)
    #endif
    guard descriptor >= 0 else { throw Failure(reason: systemError()) }
    var opened = stat()
    guard fstat(descriptor, &opened) == 0 else {
      let failure = Failure(reason: systemError())
      _ = close(descriptor)
      throw failure
    }
    do throws(Failure) {
      guard opened.st_dev == named.st_dev && opened.st_ino == named.st_ino else {
        throw Failure(reason: "reopened as another file than the one examined")
      }
      // The file may have grown since it was examined.
      try check(opened, maximumBytes: maximumBytes)
    } catch {
      _ = close(descriptor)
      throw error
    }
    return (descriptor, opened)
  }

  #if os(Linux)
    /// `O_PATH` of Linux's asm-generic `fcntl.h` (x86-64 and arm64 alike), which Glibc's module does
    /// not export: Swift does not build it with `_GNU_SOURCE`.
    private static let pathOnly: Int32 = 0o10_000_000
  #endif

  private static func check(_ status: stat, maximumBytes: Int) throws(Failure) {
    guard isRegular(status) else { throw Failure(reason: "not a regular file (\(kind(of: status)))") }
    guard status.st_size <= maximumBytes else {
      throw Failure(reason: "\(status.st_size) bytes, over the limit of \(maximumBytes) bytes")
    }
  }

  /// Why a read stopped at `maximumBytes` although the file was within them when opened: it grew,
  /// or it is one of the kernel's files that say 0 bytes and hold more (`/proc/self/pagemap`).
  public static func pastLimitWhileRead(_ maximumBytes: Int) -> String {
    "more than \(maximumBytes) bytes read, over the limit (the file grew, or its size said less than it holds)"
  }

  public static func isRegular(_ status: stat) -> Bool { status.st_mode & S_IFMT == S_IFREG }

  /// What a status describes, for a message: `a directory`, `a FIFO`, `a character device`, ….
  public static func kind(of status: stat) -> String {
    switch status.st_mode & S_IFMT {
    case S_IFREG: "a regular file"
    case S_IFDIR: "a directory"
    case S_IFIFO: "a FIFO"
    case S_IFCHR: "a character device"
    case S_IFBLK: "a block device"
    case S_IFSOCK: "a socket"
    case S_IFLNK: "a symbolic link"
    default: "an unknown kind of file"
    }
  }

  static func systemError() -> String { String(cString: strerror(errno)) }
}

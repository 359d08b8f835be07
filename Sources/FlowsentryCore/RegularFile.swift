#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Opens a path for reading only when it names a regular file. A path is stat'ed before it is
/// opened, since opening is what a device acts on (`/dev/watchdog` arms on open) and what a FIFO
/// would wait on; the opened descriptor is stat'ed again, since the path may name another file by
/// then. Non-blocking and without a controlling terminal, should a race still hand it a device.
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
    var named = stat()
    guard stat(path, &named) == 0 else { throw Failure(reason: systemError()) }
    try check(named, maximumBytes: maximumBytes)
    let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
    guard descriptor >= 0 else { throw Failure(reason: systemError()) }
    var opened = stat()
    guard fstat(descriptor, &opened) == 0 else {
      let failure = Failure(reason: systemError())
      _ = close(descriptor)
      throw failure
    }
    do {
      try check(opened, maximumBytes: maximumBytes)
    } catch {
      _ = close(descriptor)
      throw error
    }
    return (descriptor, opened)
  }

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

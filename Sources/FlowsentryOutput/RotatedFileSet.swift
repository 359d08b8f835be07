#if canImport(Glibc)
  import Glibc
#endif

/// The files a size-rotated file leaves behind: `PATH`, then `PATH.1` (the newest full one) up to
/// `PATH.(keep-1)` (the oldest). Shared by `monitor --record` and the `file://` output.
public struct RotatedFileSet: Sendable {
  public struct ShiftError: Error, CustomStringConvertible, Equatable {
    public var operation: String
    public var path: String
    public var errno: Int32
    public var description: String { "cannot \(operation) \(path): \(String(cString: strerror(errno)))" }
  }

  public let path: String
  public let keep: Int

  public init(path: String, keep: Int) {
    self.path = path
    self.keep = max(1, keep)
  }

  public func name(_ index: Int) -> String { index == 0 ? path : "\(path).\(index)" }

  /// Drops the oldest file and moves each other one number up, so that `path` is free for a new
  /// file. A number not taken yet is no error. On any other failure nothing after it is moved, so
  /// a retry starts again from the oldest file and loses nothing more.
  public func shift() throws(ShiftError) {
    if unlink(name(keep - 1)) != 0, errno != ENOENT {
      throw ShiftError(operation: "remove", path: name(keep - 1), errno: errno)
    }
    for index in stride(from: keep - 1, to: 0, by: -1) where rename(name(index - 1), name(index)) != 0 {
      guard errno == ENOENT else { throw ShiftError(operation: "rename", path: name(index - 1), errno: errno) }
    }
  }
}

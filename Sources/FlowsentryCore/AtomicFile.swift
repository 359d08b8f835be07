#if canImport(Glibc)
  import Glibc
#endif

/// Replaces a file whole, so that a crash leaves the old contents or the new ones, never a mix: a
/// new temporary file beside it (never an existing file or link: `O_EXCL`), written and fsynced,
/// renamed over the path, then the directory fsynced so that the rename itself is durable. Every
/// call's result is checked; on a failure the temporary file is removed and the old file stays.
/// Blocking: call it from a thread of its own, not from Swift's cooperative pool.
public enum AtomicFile {
  public struct Failure: Error, Equatable, CustomStringConvertible {
    /// The call that failed (`open`, `write`, `fsync`, `close`, `rename`, `mkdir`, ...).
    public var operation: String
    public var path: String
    public var code: Int32

    public var description: String { "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))" }
  }

  /// Writes `bytes` to `path` atomically with `permissions`; with `creatingDirectories`, the
  /// missing directories above it first (mode 0700).
  public static func write<Bytes: Collection<UInt8>>(
    _ bytes: Bytes, to path: String, permissions: mode_t = 0o600, creatingDirectories: Bool = false
  ) throws(Failure) {
    let directory = parent(of: path)
    if creatingDirectories { try makeDirectories(directory) }
    let temporary = "\(path).tmp.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, permissions)
    guard descriptor >= 0 else { throw Failure(operation: "open", path: temporary, code: errno) }
    let written: Int32? =
      bytes.withContiguousStorageIfAvailable { writeAll(descriptor, UnsafeRawBufferPointer($0)) }
      ?? Array(bytes).withUnsafeBytes { writeAll(descriptor, $0) }
    var result = written.map { Failure(operation: "write", path: temporary, code: $0) }
    if result == nil && fsync(descriptor) != 0 { result = Failure(operation: "fsync", path: temporary, code: errno) }
    if close(descriptor) != 0 && result == nil { result = Failure(operation: "close", path: temporary, code: errno) }
    if result == nil && rename(temporary, path) != 0 { result = Failure(operation: "rename", path: path, code: errno) }
    if let result {
      unlink(temporary)
      throw result
    }
    try syncDirectory(directory)
  }

  /// Fsyncs a directory, so that the names created or renamed in it survive a crash.
  public static func syncDirectory(_ directory: String) throws(Failure) {
    let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard descriptor >= 0 else { throw Failure(operation: "open", path: directory, code: errno) }
    let synced = fsync(descriptor) == 0 ? 0 : errno
    let closed = close(descriptor) == 0 ? 0 : errno
    if synced != 0 { throw Failure(operation: "fsync", path: directory, code: synced) }
    if closed != 0 { throw Failure(operation: "close", path: directory, code: closed) }
  }

  /// Creates `directory` and those above it that are missing (mode 0700); an existing one is fine.
  public static func makeDirectories(_ directory: String) throws(Failure) {
    var status = stat()
    if stat(directory, &status) == 0 {
      guard status.st_mode & S_IFMT == S_IFDIR else {
        throw Failure(operation: "mkdir", path: directory, code: ENOTDIR)
      }
      return
    }
    let above = parent(of: directory)
    if above != directory { try makeDirectories(above) }
    if mkdir(directory, 0o700) != 0 && errno != EEXIST {
      throw Failure(operation: "mkdir", path: directory, code: errno)
    }
  }

  /// The directory holding `path` ("." for a bare name, "/" for a name in the root).
  static func parent(of path: String) -> String {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return "." }
    return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
  }

  /// Writes every byte, retrying short writes and interruptions; the errno of a failure, or nil.
  private static func writeAll(_ descriptor: Int32, _ buffer: UnsafeRawBufferPointer) -> Int32? {
    var written = 0
    while written < buffer.count {
      let count = Glibc.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
      if count < 0 {
        if errno == EINTR { continue }
        return errno
      }
      written += count
    }
    return nil
  }
}

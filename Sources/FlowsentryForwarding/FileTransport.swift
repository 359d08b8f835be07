import FlowsentryOutput
import FlowsentrySpool

#if canImport(Glibc)
  import Glibc
#endif

/// `file:///path`: one record per line, appended; the file rotates by size (`PATH.1` … kept).
/// A record is delivered once write(2) took its whole line; a failed write (a full disk) is
/// retried with backoff, the records waiting in the spool meanwhile.
final class FileTransport: Transport {
  private let path: String
  private let maximumBytes: Int64
  private let files: RotatedFileSet
  private var descriptor: Int32
  private var size: Int64
  private var written: UInt64?
  private(set) var rotations: UInt64 = 0

  init(path: String, maximumBytes: Int64, keep: Int) throws(TransportError) {
    self.path = path
    self.maximumBytes = maximumBytes
    files = RotatedFileSet(path: path, keep: keep)
    descriptor = try Self.open(path)
    let end = lseek(descriptor, 0, SEEK_END)
    guard end >= 0 else {
      let failure = errno
      close(descriptor)
      throw .unreachable("cannot seek in \(path): \(String(cString: strerror(failure)))")
    }
    size = Int64(end)
  }

  deinit { close(descriptor) }

  var unacknowledged: Int { 0 }

  func send(_ records: [Spool.Record]) throws(TransportError) {
    var lines: [UInt8] = []
    for record in records {
      if size + Int64(lines.count) > 0, size + Int64(lines.count + record.payload.count + 1) > maximumBytes {
        try write(lines)
        lines.removeAll(keepingCapacity: true)
        try rotate()
      }
      lines += record.payload
      lines.append(UInt8(ascii: "\n"))
      written = record.sequence
    }
    try write(lines)
  }

  func acknowledged() throws(TransportError) -> UInt64? {
    defer { written = nil }
    return written
  }

  private func write(_ bytes: [UInt8]) throws(TransportError) {
    var offset = 0
    while offset < bytes.count {
      let result = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
      if result < 0 && errno == EINTR { continue }
      guard result > 0 else {
        let failure = errno
        // Cut the partial line off so that the file holds whole lines only.
        _ = ftruncate(descriptor, off_t(size))
        written = nil
        throw .broken("write to \(path): \(String(cString: strerror(failure)))")
      }
      offset += result
    }
    size += Int64(bytes.count)
  }

  private func rotate() throws(TransportError) {
    // The current file stays open until the others moved: a failed move is retried with the
    // records still in the spool, and the file is never left closed.
    do { try files.shift() } catch { throw .broken(error.description) }
    close(descriptor)
    descriptor = try Self.open(path)
    size = 0
    rotations += 1
  }

  private static func open(_ path: String) throws(TransportError) -> Int32 {
    let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
    guard descriptor >= 0 else { throw .unreachable("cannot open \(path): \(String(cString: strerror(errno)))") }
    return descriptor
  }
}

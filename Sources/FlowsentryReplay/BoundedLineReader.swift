#if canImport(Glibc)
  import Glibc
#endif

/// The lines of a file, each held only up to `limit` bytes: a longer line is reported by its length
/// and skipped without being kept, so any file is read in bounded memory.
struct BoundedLineReader {
  enum Line {
    /// The line's bytes, without its newline.
    case text([UInt8])
    case tooLong(Int)
  }

  let file: UnsafeMutablePointer<FILE>
  let limit: Int
  /// Bytes taken from the file so far.
  private(set) var bytesRead: Int64 = 0
  /// The errno of a failed read, which ends the lines early.
  private(set) var readError: Int32?
  private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
  private var start = 0
  private var end = 0

  init(file: UnsafeMutablePointer<FILE>, limit: Int) {
    self.file = file
    self.limit = limit
  }

  /// The next line; nil at the end of the file (or at a read error, kept in `readError`).
  mutating func next() -> Line? {
    var line: [UInt8] = []
    var length = 0
    var tooLong = false
    while true {
      if start == end {
        guard refill() else {
          // The last line may lack its newline.
          if length == 0 { return nil }
          return tooLong ? .tooLong(length) : .text(line)
        }
      }
      let newline = buffer[start..<end].firstIndex(of: UInt8(ascii: "\n"))
      let chunkEnd = newline ?? end
      length += chunkEnd - start
      if !tooLong {
        if length > limit {
          tooLong = true
          line = []
        } else {
          line.append(contentsOf: buffer[start..<chunkEnd])
        }
      }
      start = chunkEnd
      if newline != nil {
        start += 1
        return tooLong ? .tooLong(length) : .text(line)
      }
    }
  }

  private mutating func refill() -> Bool {
    let count = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
    start = 0
    end = count
    bytesRead += Int64(count)
    if count == 0 && ferror(file) != 0 { readError = errno }
    return count > 0
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One line of a feed, without its newline, or the notice that a line was too long to hold.
enum FeedLine {
  case text(UnsafeRawBufferPointer, number: Int)
  /// A line longer than the splitter's bound; its bytes are dropped up to the next newline.
  case tooLong(prefix: UnsafeRawBufferPointer, number: Int)
}

/// Cuts a stream of chunks into lines with bounded memory: a line longer than `maximumLineLength`
/// is reported once and skipped, so a file with no newline cannot make the reader grow.
struct LineSplitter {
  static let defaultMaximumLineLength = 65_536

  let maximumLineLength: Int
  private(set) var lineNumber = 0
  private var skippingLongLine = false

  init(maximumLineLength: Int = LineSplitter.defaultMaximumLineLength) {
    self.maximumLineLength = maximumLineLength
  }

  /// Hands `body` every complete line of `bytes` (and, `atEnd`, the unterminated last one); returns
  /// how many bytes were consumed, so the caller keeps the rest for the next chunk.
  mutating func split<Failure: Error>(
    _ bytes: UnsafeRawBufferPointer, atEnd: Bool, _ body: (FeedLine) throws(Failure) -> Void
  ) throws(Failure) -> Int {
    guard let base = bytes.baseAddress else { return 0 }
    var start = 0
    while start < bytes.count {
      let remaining = bytes.count - start
      if let newline = memchr(base + start, 0x0A, remaining) {
        let end = base.distance(to: UnsafeRawPointer(newline))
        if skippingLongLine {
          skippingLongLine = false
        } else {
          try emit(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), body)
        }
        start = end + 1
        continue
      }
      if skippingLongLine {
        start = bytes.count
      } else if remaining > maximumLineLength {
        lineNumber += 1
        try body(.tooLong(prefix: UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count]), number: lineNumber))
        skippingLongLine = true
        start = bytes.count
      } else if atEnd {
        try emit(UnsafeRawBufferPointer(rebasing: bytes[start..<bytes.count]), body)
        start = bytes.count
      }
      break
    }
    return start
  }

  private mutating func emit<Failure: Error>(
    _ line: UnsafeRawBufferPointer, _ body: (FeedLine) throws(Failure) -> Void
  ) throws(Failure) {
    lineNumber += 1
    if line.count > maximumLineLength {
      try body(.tooLong(prefix: line, number: lineNumber))
    } else {
      try body(.text(line, number: lineNumber))
    }
  }
}

/// Reads a file through a fixed buffer and hands its lines to `body`; memory stays bounded by the
/// buffer whatever the file's size. Throws `IntelFeedError.unreadable` naming the path.
func forEachLine(
  ofFileAt path: String, bufferSize: Int = 1 << 20, maximumLineLength: Int = LineSplitter.defaultMaximumLineLength,
  _ body: (FeedLine) throws(IntelFeedError) -> Void
) throws(IntelFeedError) -> Int {
  // O_NONBLOCK: opening a FIFO a rule file names must not wait for a writer. Only regular files
  // end: /dev/zero or a FIFO would hold the loader forever.
  let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
  guard descriptor >= 0 else { throw IntelFeedError.unreadable(path: path, reason: systemError()) }
  defer { _ = close(descriptor) }
  var status = stat()
  guard fstat(descriptor, &status) == 0 else { throw IntelFeedError.unreadable(path: path, reason: systemError()) }
  guard status.st_mode & S_IFMT == S_IFREG else {
    throw IntelFeedError.unreadable(path: path, reason: "not a regular file")
  }
  let capacity = max(bufferSize, maximumLineLength + 1)
  let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
  defer { buffer.deallocate() }
  var splitter = LineSplitter(maximumLineLength: maximumLineLength)
  var filled = 0
  var total = 0
  while true {
    let count = read(descriptor, buffer.baseAddress! + filled, capacity - filled)
    if count < 0 {
      if errno == EINTR { continue }
      throw IntelFeedError.unreadable(path: path, reason: systemError())
    }
    total += count
    filled += count
    let atEnd = count == 0
    let consumed = try splitter.split(UnsafeRawBufferPointer(rebasing: buffer[0..<filled]), atEnd: atEnd, body)
    if atEnd { return total }
    // Keep the partial line at the front; the splitter has consumed everything when the buffer was full
    // of one over-long line, so there is always room to read again.
    if consumed > 0 && consumed < filled {
      buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + consumed, byteCount: filled - consumed)
    }
    filled -= consumed
  }
}

/// Hands every line of in-memory `bytes` to `body`, exactly as `forEachLine(ofFileAt:)` would for a
/// file holding them.
func forEachLine(
  in bytes: UnsafeRawBufferPointer, maximumLineLength: Int = LineSplitter.defaultMaximumLineLength,
  _ body: (FeedLine) throws(IntelFeedError) -> Void
) throws(IntelFeedError) {
  var splitter = LineSplitter(maximumLineLength: maximumLineLength)
  _ = try splitter.split(bytes, atEnd: true, body)
}

private func systemError() -> String {
  String(cString: strerror(errno))
}

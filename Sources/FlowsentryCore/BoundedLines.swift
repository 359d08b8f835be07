#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One line of a file, without its newline, or the notice that a line was too long to hold.
public enum BoundedLine {
  /// Valid only during the call it is handed to.
  case text(UnsafeRawBufferPointer, number: Int)
  /// A line longer than the splitter's bound: its first bytes; the rest is dropped up to the next newline.
  case tooLong(prefix: UnsafeRawBufferPointer, number: Int)
}

/// Cuts a stream of chunks into lines with bounded memory: a line longer than `maximumLineLength`
/// is reported once and skipped, so a file with no newline cannot make the reader grow. The one
/// line reader of feeds (FlowsentryIntel) and recordings (FlowsentryReplay).
public struct BoundedLineSplitter {
  public let maximumLineLength: Int
  public private(set) var lineNumber = 0
  private var skippingLongLine = false

  public init(maximumLineLength: Int) {
    self.maximumLineLength = maximumLineLength
  }

  /// Hands `body` every complete line of `bytes` (and, `atEnd`, the unterminated last one); returns
  /// how many bytes were consumed, so the caller keeps the rest for the next chunk.
  public mutating func split<Failure: Error>(
    _ bytes: UnsafeRawBufferPointer, atEnd: Bool, _ body: (BoundedLine) throws(Failure) -> Void
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
    _ line: UnsafeRawBufferPointer, _ body: (BoundedLine) throws(Failure) -> Void
  ) throws(Failure) {
    lineNumber += 1
    if line.count > maximumLineLength {
      try body(.tooLong(prefix: line, number: lineNumber))
    } else {
      try body(.text(line, number: lineNumber))
    }
  }
}

/// A file read line by line through one fixed buffer: memory stays bounded by the buffer whatever
/// the file holds.
public struct BoundedLineFile: ~Copyable {
  /// Why a file could not be opened or read: the system's message.
  public struct Failure: Error, Sendable {
    public var reason: String
  }

  private let descriptor: Int32
  /// The file's size when opened was within it; reading stops past it too (`RegularFile.pastLimitWhileRead`).
  private let maximumBytes: Int
  /// Bytes taken from the file so far.
  public private(set) var bytesRead = 0

  /// With `regularFileOnly`, opens `path` only if it names a regular file (`RegularFile.openForReading`: a
  /// device is never opened, and /dev/zero or a FIFO would never end); otherwise non-blocking (a FIFO
  /// must not wait for a writer). A regular file of more than `maximumBytes` is refused unread.
  public init(path: String, regularFileOnly: Bool = true, maximumBytes: Int = .max) throws(Failure) {
    self.maximumBytes = maximumBytes
    guard regularFileOnly else {
      let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
      guard descriptor >= 0 else { throw Failure(reason: Self.systemError()) }
      self.descriptor = descriptor
      return
    }
    do {
      descriptor = try RegularFile.openForReading(path, maximumBytes: maximumBytes).descriptor
    } catch {
      throw Failure(reason: error.reason)
    }
  }

  deinit { _ = close(descriptor) }

  /// Hands every line to `body`; returns the read error that ended the lines early, nil at the end.
  public mutating func forEachLine<BodyFailure: Error>(
    bufferSize: Int = 1 << 20, maximumLineLength: Int, _ body: (BoundedLine) throws(BodyFailure) -> Void
  ) throws(BodyFailure) -> Failure? {
    let capacity = max(bufferSize, maximumLineLength + 1)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
    defer { buffer.deallocate() }
    var splitter = BoundedLineSplitter(maximumLineLength: maximumLineLength)
    var filled = 0
    while true {
      let count = read(descriptor, buffer.baseAddress! + filled, capacity - filled)
      if count < 0 {
        if errno == EINTR { continue }
        return Failure(reason: Self.systemError())
      }
      bytesRead += count
      if bytesRead > maximumBytes { return Failure(reason: RegularFile.pastLimitWhileRead(maximumBytes)) }
      filled += count
      let atEnd = count == 0
      let consumed = try splitter.split(UnsafeRawBufferPointer(rebasing: buffer[0..<filled]), atEnd: atEnd, body)
      if atEnd { return nil }
      // Keep the partial line at the front; the splitter has consumed everything when the buffer was
      // full of one over-long line, so there is always room to read again.
      if consumed > 0 && consumed < filled {
        buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + consumed, byteCount: filled - consumed)
      }
      filled -= consumed
    }
  }

  private static func systemError() -> String {
    String(cString: strerror(errno))
  }
}

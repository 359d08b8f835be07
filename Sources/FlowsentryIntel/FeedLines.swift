import FlowsentryCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A feed's line: Core's bounded line reader is the one reader of feeds and recordings.
typealias FeedLine = BoundedLine

enum FeedLines {
  /// A feed line past this is malformed (a feed's longest are Zeek intel lines of a few hundred bytes).
  static let maximumLineLength = 65_536
}

/// Reads a file through a fixed buffer and hands its lines to `body`; memory stays bounded by the
/// buffer whatever the file's size. Only regular files are read (a FIFO or /dev/zero would never
/// end), of at most `IntelLimits.maximumFeedFileBytes`. Throws `IntelFeedError.unreadable` naming the path.
func forEachLine(
  ofFileAt path: String, bufferSize: Int = 1 << 20, maximumLineLength: Int = FeedLines.maximumLineLength,
  _ body: (FeedLine) throws(IntelFeedError) -> Void
) throws(IntelFeedError) -> Int {
  var file: BoundedLineFile
  do {
    file = try BoundedLineFile(path: path, maximumBytes: IntelLimits.maximumFeedFileBytes)
  } catch {
    throw IntelFeedError.unreadable(path: path, reason: error.reason)
  }
  if let failure = try file.forEachLine(bufferSize: bufferSize, maximumLineLength: maximumLineLength, body) {
    throw IntelFeedError.unreadable(path: path, reason: failure.reason)
  }
  return file.bytesRead
}

/// Hands every line of in-memory `bytes` to `body`, exactly as `forEachLine(ofFileAt:)` would for a
/// file holding them.
func forEachLine(
  in bytes: UnsafeRawBufferPointer, maximumLineLength: Int = FeedLines.maximumLineLength,
  _ body: (FeedLine) throws(IntelFeedError) -> Void
) throws(IntelFeedError) {
  var splitter = BoundedLineSplitter(maximumLineLength: maximumLineLength)
  _ = try splitter.split(bytes, atEnd: true, body)
}

/// A feed file's indicator lines and their bytes, read in one pass before it is loaded so that the
/// builder can size its structures once (`IntelListBuilder.reserveCapacity`). Nil when the file
/// cannot be opened or read as a regular file: the load that follows reports why, naming the path.
func feedExtent(ofFileAt path: String, bufferSize: Int = 1 << 20) -> (bytes: Int, lines: Int)? {
  guard
    let descriptor = try? RegularFile.openForReading(path, maximumBytes: IntelLimits.maximumFeedFileBytes).descriptor
  else { return nil }
  defer { _ = close(descriptor) }
  let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
  defer { buffer.deallocate() }
  var counter = IndicatorLineCounter()
  var total = 0
  while true {
    let count = read(descriptor, buffer.baseAddress!, bufferSize)
    if count < 0 {
      if errno == EINTR { continue }
      return nil
    }
    if count == 0 { break }
    total += count
    // Past the limit the load refuses the file anyway (and says so): stop sizing it.
    if total > IntelLimits.maximumFeedFileBytes { return nil }
    counter.count(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
  }
  return (counter.bytes, counter.lines)
}

/// Counts the lines of a feed that can hold an indicator, and their bytes: a blank line (spaces,
/// tabs, a carriage return) or one starting with `#` (a comment in every format, Zeek's headers
/// included) holds none. The builder reserves room for one indicator a counted line, so counting
/// every line let a file of newlines reserve, and write, slots for millions of names it never held.
/// As cheap as counting newlines: one byte is looked at a line, then `memchr` finds its end.
struct IndicatorLineCounter {
  private(set) var lines = 0
  /// The counted lines' bytes, from their first non-blank byte through their newline.
  private(set) var bytes = 0
  /// Only blanks since the last newline: the current line is not classified yet.
  private var atLineStart = true
  /// Inside a counted line, whose bytes up to its newline count.
  private var inIndicatorLine = false

  mutating func count(_ chunk: UnsafeRawBufferPointer) {
    guard let base = chunk.baseAddress else { return }
    var index = 0
    while index < chunk.count {
      if atLineStart {
        let byte = chunk[index]
        if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
          || byte == UInt8(ascii: "\n")
        {
          index += 1
          continue
        }
        atLineStart = false
        inIndicatorLine = byte != UInt8(ascii: "#")
        if inIndicatorLine { lines += 1 }
      }
      guard let newline = memchr(base + index, 0x0A, chunk.count - index) else {
        if inIndicatorLine { bytes += chunk.count - index }
        return
      }
      let next = base.distance(to: UnsafeRawPointer(newline)) + 1
      if inIndicatorLine { bytes += next - index }
      index = next
      atLineStart = true
      inIndicatorLine = false
    }
  }
}

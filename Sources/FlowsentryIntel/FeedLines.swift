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
/// end). Throws `IntelFeedError.unreadable` naming the path.
func forEachLine(
  ofFileAt path: String, bufferSize: Int = 1 << 20, maximumLineLength: Int = FeedLines.maximumLineLength,
  _ body: (FeedLine) throws(IntelFeedError) -> Void
) throws(IntelFeedError) -> Int {
  var file: BoundedLineFile
  do {
    file = try BoundedLineFile(path: path)
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

/// A feed file's size and line count, read in one pass before it is loaded so that the builder can
/// size its structures once (`IntelListBuilder.reserveCapacity`). Nil when the file cannot be opened
/// or read as a regular file: the load that follows reports why, naming the path.
func feedExtent(ofFileAt path: String, bufferSize: Int = 1 << 20) -> (bytes: Int, lines: Int)? {
  let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
  guard descriptor >= 0 else { return nil }
  defer { _ = close(descriptor) }
  var status = stat()
  guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
  let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 16)
  defer { buffer.deallocate() }
  var bytes = 0
  var newlines = 0
  var endsInNewline = true
  while true {
    let count = read(descriptor, buffer.baseAddress!, bufferSize)
    if count < 0 {
      if errno == EINTR { continue }
      return nil
    }
    if count == 0 { break }
    bytes += count
    var cursor = buffer.baseAddress!
    let end = cursor + count
    while let found = memchr(cursor, Int32(UInt8(ascii: "\n")), end - cursor) {
      newlines += 1
      cursor = UnsafeMutableRawPointer(found) + 1
    }
    endsInNewline = buffer[count - 1] == UInt8(ascii: "\n")
  }
  return (bytes, newlines + (endsInNewline ? 0 : 1))
}

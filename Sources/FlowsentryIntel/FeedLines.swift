import FlowsentryCore

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

import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// Reads a segment's records in bounded chunks: memory never holds more than a chunk and one
/// record, whatever the file's size. Where no good record starts (a flipped length, bytes
/// overwritten, a torn tail) it searches forward for the next header whose checksum holds, so damage
/// costs only the records it touched. Each stretch of bytes that is no good record counts as one
/// damaged record (at least one was lost there) and its length as damaged bytes.
final class SegmentReader {
  static let chunk = 64 << 10
  /// The most the reader ever holds: a chunk, or one whole frame of the largest payload.
  static let maximumBuffer = max(chunk, SegmentFormat.headerSize + SegmentFormat.maximumPayload)

  /// lseek's SEEK_DATA on Linux (glibc defines it only under _GNU_SOURCE, so Swift does not see it).
  private static let seekData: Int32 = 3

  private let descriptor: FileDescriptor
  private var closed = false
  let fileSize: Int64
  private var buffer: [UInt8] = []
  /// The file offset of `buffer[0]`.
  private var bufferStart: Int64 = 0
  private var position: Int64
  private var damageStart: Int64?
  private var lastSequence: UInt64 = 0
  /// Where the last good record ends: what follows it, when nothing good does, is a damaged tail.
  private(set) var goodEnd: Int64
  private(set) var damagedRecords = 0
  private(set) var damagedBytes: Int64 = 0
  /// The largest the buffer grew (what the tests hold to the bound).
  private(set) var largestBuffer = 0

  struct NotARegularFile: Error, CustomStringConvertible {
    var description: String { "not a regular file" }
  }

  /// Opens `path` without following a link and without blocking (a FIFO named like a segment),
  /// and refuses anything but a regular file.
  init(path: FilePath, from offset: Int64 = 0) throws {
    descriptor = try FileDescriptor.open(path, .readOnly, options: [.noFollow, .nonBlocking, .closeOnExec])
    var status = stat()
    guard fstat(descriptor.rawValue, &status) == 0 else {
      let error = Errno(rawValue: errno)
      try descriptor.close()
      throw error
    }
    guard status.st_mode & S_IFMT == S_IFREG else {
      try descriptor.close()
      throw NotARegularFile()
    }
    fileSize = Int64(status.st_size)
    position = min(offset, fileSize)
    goodEnd = position
  }

  deinit {
    // Every caller closes (and counts a failure); this only keeps a missed path from leaking it.
    if !closed { _ = try? descriptor.close() }
  }

  func close() throws {
    guard !closed else { return }
    closed = true
    try descriptor.close()
  }

  /// The next good record and the offset it ends at; nil at the end of the file.
  func next() throws -> (record: Spool.Record, end: Int64)? {
    while position < fileSize {
      let available = try fill(position, SegmentFormat.headerSize)
      if let header = view(position, available, SegmentFormat.header) {
        let frameSize = header.size + header.payloadLength
        let end = position + Int64(frameSize)
        if end <= fileSize, try fill(position, frameSize) == frameSize {
          if view(position, frameSize, { SegmentFormat.payloadHolds(header, frame: $0) }),
            header.sequence > lastSequence
          {
            closeDamage(at: position)
            let payload = view(position + Int64(header.size), header.payloadLength) { Array($0) }
            lastSequence = header.sequence
            position = end
            goodEnd = end
            return (Spool.Record(sequence: header.sequence, rank: header.rank, payload: payload), end)
          }
          if header.verified {
            // The header's checksum held, so its length is right: one damaged record, then the next frame.
            closeDamage(at: position)
            damageStart = position
            closeDamage(at: end)
            position = end
            continue
          }
        }
      }
      if damageStart == nil { damageStart = position }
      position = try nextCandidate(after: position)
    }
    closeDamage(at: fileSize)
    return nil
  }

  private func closeDamage(at offset: Int64) {
    guard let start = damageStart else { return }
    damagedRecords += 1
    damagedBytes += offset - start
    damageStart = nil
  }

  /// The offset of the next byte sequence after `offset` that could be a header, or the file's end.
  private func nextCandidate(after offset: Int64) throws -> Int64 {
    var search = offset + 1
    while search + 4 <= fileSize {
      // A hole in a sparse file reads as zeros and holds no header: skip to the data after it.
      // Filesystems without SEEK_DATA fail it (EINVAL), and then every byte is searched.
      let data = lseek(descriptor.rawValue, off_t(search), Self.seekData)
      if data < 0, errno == ENXIO { return fileSize }
      if data > search {
        search = Int64(data)
        continue
      }
      let available = try fill(search, Self.chunk)
      guard available >= 4 else { return fileSize }
      if let found = view(search, available, { SegmentFormat.nextMagic(in: $0, from: 0) }) {
        return search + Int64(found)
      }
      search += Int64(available - 3)
    }
    return fileSize
  }

  /// Makes the buffer hold `count` bytes from `offset` (fewer at the end of the file); returns how many it holds.
  private func fill(_ offset: Int64, _ count: Int) throws -> Int {
    let wanted = Int(min(Int64(count), fileSize - offset))
    if offset >= bufferStart, offset + Int64(wanted) <= bufferStart + Int64(buffer.count) { return wanted }
    let size = Int(min(Int64(max(wanted, Self.chunk)), fileSize - offset))
    if buffer.count != size { buffer = [UInt8](repeating: 0, count: size) }
    var filled = 0
    while filled < size {
      let read = try buffer.withUnsafeMutableBytes { bytes in
        try descriptor.read(
          fromAbsoluteOffset: offset + Int64(filled), into: UnsafeMutableRawBufferPointer(rebasing: bytes[filled...]))
      }
      if read == 0 { break }  // the file shrank under us: what is left is its end
      filled += read
    }
    if filled < size { buffer.removeLast(size - filled) }
    bufferStart = offset
    largestBuffer = max(largestBuffer, buffer.count)
    return min(wanted, filled)
  }

  private func view<Result>(_ offset: Int64, _ count: Int, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    buffer.withUnsafeBytes { all in
      let start = Int(offset - bufferStart)
      return body(UnsafeRawBufferPointer(rebasing: all[start..<start + count]))
    }
  }
}

import Foundation
import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// Reading segments, and the file operations whose failures are counted rather than ignored.
extension Spool {
  /// Hands out the records of `segment` after the read cursor until a limit is reached, streaming.
  /// A read error ends this pass over the segment (counted); `rewind()` tries it again.
  func readSegment(
    _ segment: Segment, limit: Int, maximumBytes: Int, into records: inout [Record], total: inout Int
  ) {
    do {
      let reader = try SegmentReader(path: segment.path, from: readCursor.offset)
      defer { closeChecked(reader, segment.path) }
      while let (record, end) = try reader.next() {
        readCursor.offset = end
        guard record.sequence > readCursor.lastRead else { continue }
        readCursor.lastRead = record.sequence
        records.append(record)
        total += record.payload.count
        if records.count == limit || total >= maximumBytes { return }
      }
      readCursor.offset = segment.bytes
    } catch {
      noteFileFailure("read", segment.path, error)
      readCursor.offset = segment.bytes
    }
  }

  func countPending(in segment: Segment, after low: UInt64, through high: UInt64) -> [Int] {
    var counts = Array(repeating: 0, count: Int(Self.ranks))
    do {
      let reader = try SegmentReader(path: segment.path)
      defer { closeChecked(reader, segment.path) }
      while let (record, _) = try reader.next(), record.sequence <= high {
        if record.sequence > low { counts[Int(record.rank)] += 1 }
      }
    } catch {
      noteFileFailure("read", segment.path, error)
    }
    return counts
  }

  func noteFileFailure(_ operation: String, _ path: FilePath, _ error: any Error) {
    counters.failedFileOperations += 1
    lastFileError = "\(operation) \(path): \(error)"
  }

  func closeChecked(_ descriptor: FileDescriptor, _ operation: String, _ path: FilePath) {
    do { try descriptor.close() } catch { noteFileFailure(operation, path, error) }
  }

  func closeChecked(_ reader: SegmentReader, _ path: FilePath) {
    do { try reader.close() } catch { noteFileFailure("close", path, error) }
  }

  func syncChecked(_ descriptor: FileDescriptor, _ path: FilePath) {
    if fsync(descriptor.rawValue) != 0 { noteFileFailure("fsync", path, Errno(rawValue: errno)) }
  }

  static func createDirectory(_ path: FilePath) throws {
    try FileManager.default.createDirectory(atPath: path.string, withIntermediateDirectories: true)
    guard access(path.string, W_OK) == 0 else { throw Errno(rawValue: errno) }
  }
}

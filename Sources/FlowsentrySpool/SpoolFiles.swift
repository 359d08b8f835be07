import Foundation
import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// Reading segments and the state file: what recovery, compaction and the reader share.
extension Spool {
  struct Scan {
    /// Good records and the offset each ends at.
    var records: [(Record, Int64)] = []
    /// Where the last whole frame (good or damaged) ends: what follows is a torn tail.
    var goodEnd: Int64
    /// Frames whose header held but whose checksum did not: skipped, the frames after them read.
    var damagedRecords = 0
    var fileSize: Int64
  }

  func scan(_ path: FilePath, from offset: Int64 = 0, readLimit: Int = .max) throws -> Scan {
    let descriptor = try FileDescriptor.open(path, .readOnly)
    defer { try? descriptor.close() }
    let size = try descriptor.seek(offset: 0, from: .end)
    guard size > offset else { return Scan(goodEnd: offset, fileSize: size) }
    var contents = [UInt8](repeating: 0, count: Int(min(size - offset, Int64(readLimit))))
    let read = try contents.withUnsafeMutableBytes { buffer in
      try descriptor.read(fromAbsoluteOffset: offset, into: buffer)
    }
    let bytes = contents[0..<read]
    var result = Scan(goodEnd: offset, fileSize: size)
    var position = 0
    while let header = SegmentFormat.header(bytes[position...]) {
      let start = position + SegmentFormat.headerSize
      let end = start + header.payloadLength
      guard end <= bytes.count else { break }
      let payload = bytes[start..<end]
      position = end
      result.goodEnd = offset + Int64(end)
      guard SegmentFormat.checksum(sequence: header.sequence, rank: header.rank, payload: payload) == header.checksum,
        header.rank < Self.ranks
      else {
        result.damagedRecords += 1
        continue
      }
      result.records.append(
        (Record(sequence: header.sequence, rank: header.rank, payload: Array(payload)), offset + Int64(end)))
    }
    return result
  }

  /// `COMMITTED SENT`: the last record the receiver accepted, and the last one handed to it.
  static func readCommitted(_ path: FilePath) -> (committed: UInt64, sent: UInt64) {
    guard let text = try? String(contentsOfFile: path.string, encoding: .utf8) else { return (0, 0) }
    let numbers = text.split(whereSeparator: \.isWhitespace).map { UInt64($0) }
    guard let committed = numbers.first ?? nil else { return (0, 0) }
    let sent = numbers.count > 1 ? (numbers[1] ?? committed) : committed
    return (committed, max(sent, committed))
  }

  static func createDirectory(_ path: FilePath) throws {
    try FileManager.default.createDirectory(atPath: path.string, withIntermediateDirectories: true)
    guard access(path.string, W_OK) == 0 else { throw Errno(rawValue: errno) }
  }

  func countPending(in segment: Segment, after low: UInt64, through high: UInt64) -> [Int] {
    var counts = Array(repeating: 0, count: Int(Self.ranks))
    guard let scanned = try? scan(segment.path) else { return counts }
    for (record, _) in scanned.records where record.sequence > low && record.sequence <= high {
      counts[Int(record.rank)] += 1
    }
    return counts
  }
}

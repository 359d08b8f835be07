import Foundation
import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// What opening a spool found: its segments, its positions, and what an operator should read.
struct Recovery {
  var segments: [Spool.Segment] = []
  var counters = Spool.Counters()
  var notes: [String] = []
  var lastFileError: String?
  var lastCommitted: UInt64 = 0
  var previouslySent: UInt64 = 0
  var nextSequence: UInt64 = 1

  mutating func noteFailure(_ operation: String, _ path: FilePath, _ error: any Error) {
    counters.failedFileOperations += 1
    lastFileError = "\(operation) \(path): \(error)"
    notes.append("\(operation) \(path) failed: \(error)")
  }
}

extension Spool {
  /// A segment file as read at open: its good records' range and ranks.
  private struct Found {
    var path: FilePath
    var first: UInt64
    var last: UInt64
    var records: Int
    var byRank: [Int]
    var bytes: Int64
  }

  /// Reads every segment at open, streaming. Damage (a torn tail after a power loss, a full disk,
  /// bytes overwritten) costs only the damaged records; files named like segments that are not
  /// regular files are left alone; a `committed` file that is damaged, out of range or past the last
  /// spooled record makes every spooled record pending again (at-least-once). Each is counted and
  /// noted; the sensor always starts.
  static func recover(_ directory: FilePath) -> Recovery {
    var recovery = Recovery()
    let state = CommittedFile.read(directory.appending("committed"))
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: directory.string).sorted()
    } catch {
      recovery.noteFailure("list", directory, error)
      names = []
    }
    var found: [Found] = []
    for name in names {
      if name.hasSuffix(".tmp") {
        removeLeftover(directory.appending(name), &recovery)
      } else if isSegmentName(name) {
        if let segment = readSegmentAtOpen(directory.appending(name), &recovery) { found.append(segment) }
      }
    }
    found.sort { $0.first < $1.first }
    (recovery.lastCommitted, recovery.previouslySent) = positions(state, found, &recovery)
    for segment in found {
      recovery.nextSequence = max(recovery.nextSequence, segment.last + 1)
      guard segment.last > recovery.lastCommitted else {
        if unlink(segment.path.string) != 0 { recovery.noteFailure("unlink", segment.path, Errno(rawValue: errno)) }
        continue
      }
      var byRank = segment.byRank
      if segment.first <= recovery.lastCommitted {
        byRank = pendingAtOpen(segment.path, after: recovery.lastCommitted, &recovery)
      }
      recovery.counters.recoveredRecords += UInt64(byRank.reduce(0, +))
      recovery.segments.append(
        Segment(
          firstSequence: segment.first, lastSequence: segment.last, bytes: segment.bytes, pendingByRank: byRank,
          path: segment.path))
    }
    recovery.nextSequence = max(recovery.nextSequence, recovery.lastCommitted + 1)
    return recovery
  }

  /// The committed and sent positions to start from: the file's, unless it cannot be trusted.
  private static func positions(
    _ state: CommittedFile.State, _ found: [Found], _ recovery: inout Recovery
  ) -> (UInt64, UInt64) {
    let highest = found.map(\.last).max()
    let reason: String
    switch state {
    case .missing:
      return (0, 0)
    case .valid(let committed, let sent):
      guard let highest, committed > highest else { return (committed, sent) }
      reason = "points past the last spooled record (\(committed) > \(highest))"
    case .damaged(let why):
      reason = why
    }
    recovery.counters.committedFallbacks += 1
    guard let lowest = found.map(\.first).min(), let highest else {
      recovery.notes.append("the committed file \(reason); no records are spooled, nothing is lost")
      return (0, 0)
    }
    let records = found.reduce(0) { $0 + $1.records }
    recovery.counters.fallbackResends += UInt64(records)
    recovery.notes.append(
      "the committed file \(reason): all \(records) spooled records are sent again from the oldest "
        + "(the receiver may already have some)")
    // Everything spooled counts as sent before: the output counts them as possible duplicates.
    return (lowest - 1, highest)
  }

  /// `<decimal>.seg`: what the spool names its segments.
  static func isSegmentName(_ name: String) -> Bool {
    let number = name.utf8.dropLast(4)
    return name.hasSuffix(".seg") && !number.isEmpty && number.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
  }

  private static func readSegmentAtOpen(_ path: FilePath, _ recovery: inout Recovery) -> Found? {
    var status = stat()
    guard lstat(path.string, &status) == 0 else {
      recovery.noteFailure("stat", path, Errno(rawValue: errno))
      return nil
    }
    guard status.st_mode & S_IFMT == S_IFREG else {
      recovery.counters.skippedFiles += 1
      recovery.notes.append("\(path) is named like a segment but is no regular file: left alone")
      return nil
    }
    let reader: SegmentReader
    do { reader = try SegmentReader(path: path) } catch {
      recovery.counters.skippedFiles += 1
      recovery.notes.append("\(path) cannot be opened (\(error)): left alone")
      return nil
    }
    var found = Found(
      path: path, first: 0, last: 0, records: 0, byRank: Array(repeating: 0, count: Int(ranks)), bytes: reader.fileSize)
    var readToEnd = true
    do {
      while let (record, _) = try reader.next() {
        if found.records == 0 { found.first = record.sequence }
        found.last = record.sequence
        found.records += 1
        found.byRank[Int(record.rank)] += 1
      }
    } catch {
      // What was read is kept; the rest stays on disk for the next open to try again.
      readToEnd = false
      recovery.noteFailure("read", path, error)
    }
    do { try reader.close() } catch { recovery.noteFailure("close", path, error) }
    if reader.damagedRecords > 0 {
      recovery.counters.damagedSegments += 1
      recovery.counters.damagedRecords += UInt64(reader.damagedRecords)
      recovery.counters.damagedBytes += UInt64(reader.damagedBytes)
      recovery.notes.append(
        "\(path): \(reader.damagedRecords) damaged stretches (\(reader.damagedBytes) bytes) skipped, "
          + "\(found.records) good records kept")
    }
    guard found.records > 0 else {
      if unlink(path.string) != 0 { recovery.noteFailure("unlink", path, Errno(rawValue: errno)) }
      return nil
    }
    // A damaged tail is cut off, so that the segment ends on a record.
    if readToEnd, reader.goodEnd < reader.fileSize {
      if truncate(path.string, off_t(reader.goodEnd)) == 0 {
        found.bytes = reader.goodEnd
      } else {
        recovery.noteFailure("truncate", path, Errno(rawValue: errno))
      }
    }
    return found
  }

  private static func pendingAtOpen(_ path: FilePath, after committed: UInt64, _ recovery: inout Recovery) -> [Int] {
    var counts = Array(repeating: 0, count: Int(ranks))
    let reader: SegmentReader
    do { reader = try SegmentReader(path: path) } catch {
      recovery.noteFailure("open", path, error)
      return counts
    }
    do {
      while let (record, _) = try reader.next() {
        if record.sequence > committed { counts[Int(record.rank)] += 1 }
      }
    } catch {
      recovery.noteFailure("read", path, error)
    }
    do { try reader.close() } catch { recovery.noteFailure("close", path, error) }
    return counts
  }

  /// A temporary file a crash left (a rewrite or a committed write that did not reach its rename):
  /// the file it was to replace is whole, so it goes.
  private static func removeLeftover(_ path: FilePath, _ recovery: inout Recovery) {
    var status = stat()
    guard lstat(path.string, &status) == 0 else {
      recovery.noteFailure("stat", path, Errno(rawValue: errno))
      return
    }
    guard status.st_mode & S_IFMT == S_IFREG else { return }
    if unlink(path.string) != 0 { recovery.noteFailure("unlink", path, Errno(rawValue: errno)) }
  }
}

import Foundation
import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

extension Spool {
  /// Reads every segment at open. Damage (a torn tail after a power loss, a full disk, bytes
  /// overwritten) costs only the damaged records, which are counted; the sensor always starts.
  func recover() {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.string)) ?? []
    let segmentFiles =
      names
      .filter { $0.hasSuffix(".seg") }
      .compactMap { name in UInt64(name.dropLast(4)).map { (first: $0, path: directory.appending(name)) } }
      .sorted { $0.first < $1.first }
    for file in segmentFiles {
      guard let scanned = try? scan(file.path) else {
        _ = unlink(file.path.string)
        continue
      }
      let tail = scanned.fileSize - scanned.goodEnd
      if tail > 0, let descriptor = try? FileDescriptor.open(file.path, .writeOnly) {
        _ = ftruncate(descriptor.rawValue, off_t(scanned.goodEnd))
        try? descriptor.close()
      }
      let pending = scanned.records.filter { $0.0.sequence > lastCommitted }
      noteRecovered(
        UInt64(pending.count), damagedBytes: UInt64(tail),
        damagedSegment: tail > 0 || scanned.damagedRecords > 0)
      if scanned.damagedRecords > 0 { noteDamagedRecords(scanned.damagedRecords) }
      if let last = scanned.records.last { advanceNextSequence(past: last.0.sequence) }
      guard let first = pending.first, let last = pending.last else {
        _ = unlink(file.path.string)
        continue
      }
      var byRank = Array(repeating: 0, count: Int(Self.ranks))
      for (record, _) in pending { byRank[Int(record.rank)] += 1 }
      segments.append(
        Segment(
          firstSequence: min(file.first, first.0.sequence), lastSequence: last.0.sequence,
          bytes: scanned.goodEnd, pendingByRank: byRank, path: file.path))
    }
    rewind()
  }

  /// Frees room for a record of `size` bytes and `rank`: committed records first, then the
  /// uncommitted records of the lowest rank below `rank`, oldest segment first. False when only
  /// records of `rank` or higher are left: the arriving record is the one to drop.
  func makeRoom(for size: Int64, rank: UInt8) -> Bool {
    guard bytes + size > configuration.maximumBytes else { return true }
    flushAppends()
    while bytes + size > configuration.maximumBytes {
      let lowest = (0..<Int(rank)).first { candidate in segments.contains { $0.pendingByRank[candidate] > 0 } }
      guard let lowest else {
        // Room held by committed records of a partly committed segment comes back on rewrite.
        guard let index = segments.firstIndex(where: { $0.firstSequence <= lastCommitted }) else { return false }
        rewriteSegment(at: index, dropping: nil)
        if bytes + size > configuration.maximumBytes, !segments.contains(where: { $0.firstSequence <= lastCommitted }) {
          return false
        }
        continue
      }
      guard let index = segments.firstIndex(where: { $0.pendingByRank[lowest] > 0 }) else { return false }
      rewriteSegment(at: index, dropping: UInt8(lowest))
    }
    return true
  }

  /// Writes a segment anew without its committed records and, when given, those of one rank
  /// (temporary file, fsync, rename: a crash leaves the old segment or the new one, never half).
  private func rewriteSegment(at index: Int, dropping rank: UInt8?) {
    closeActive(ifAt: index)
    forgetRecent()
    let segment = segments[index]
    guard let scanned = try? scan(segment.path) else {
      removeSegment(at: index)
      return
    }
    var kept: [UInt8] = []
    var byRank = Array(repeating: 0, count: Int(Self.ranks))
    var dropped = 0
    var first: UInt64?
    var last = segment.firstSequence
    for (record, _) in scanned.records where record.sequence > lastCommitted {
      if record.rank == rank {
        dropped += 1
        continue
      }
      SegmentFormat.append(sequence: record.sequence, rank: record.rank, payload: record.payload, to: &kept)
      byRank[Int(record.rank)] += 1
      first = first ?? record.sequence
      last = record.sequence
    }
    if let rank { noteDropped(dropped, rank: Int(rank)) }
    guard let first else {
      removeSegment(at: index)
      return
    }
    let temporary = FilePath(segment.path.string + ".tmp")
    do {
      let descriptor = try FileDescriptor.open(
        temporary, .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
      _ = try kept.withUnsafeBytes { buffer in try descriptor.writeAll(buffer) }
      _ = fsync(descriptor.rawValue)
      try descriptor.close()
      _ = rename(temporary.string, segment.path.string)
    } catch {
      _ = unlink(temporary.string)
      return
    }
    segments[index].firstSequence = first
    segments[index].lastSequence = last
    segments[index].bytes = Int64(kept.count)
    segments[index].pendingByRank = byRank
    segmentRewritten(at: index)
  }
}

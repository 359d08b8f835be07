import FlowsentryCore
import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// Making room in a full spool: segments are written anew without what may leave them.
extension Spool {
  enum Room {
    case made
    /// Only records of the arriving rank or higher are left: the arriving record is the one to drop.
    case full
    /// A rewrite that would have made room failed (or failed less than a second ago).
    case failed(Errno)
  }

  /// A failed rewrite pauses the next ones this long: a full or read-only disk costs one attempt a
  /// second, never a loop.
  static let rewritePause: Int64 = 1_000_000_000

  /// Frees room for a record of `size` bytes and `rank`: committed records first, then the
  /// uncommitted records of the lowest rank below `rank`, oldest segment first. Each pass removes a
  /// segment or empties one rank of it, so the loop ends; its passes are bounded besides.
  func makeRoom(for size: Int64, rank: UInt8) -> Room {
    guard bytes + size > configuration.maximumBytes else { return .made }
    flushAppends()
    var passes = segments.count * (Int(Self.ranks) + 1) + 1
    while bytes + size > configuration.maximumBytes {
      guard passes > 0 else { return .full }
      passes -= 1
      let lowest = (0..<Int(rank)).first { candidate in segments.contains { $0.pendingByRank[candidate] > 0 } }
      let index: Int
      if let lowest {
        guard let found = segments.firstIndex(where: { $0.pendingByRank[lowest] > 0 }) else { return .full }
        index = found
      } else {
        // Room held by committed records of a partly committed segment comes back on rewrite.
        guard let found = segments.firstIndex(where: { $0.firstSequence <= lastCommitted }) else { return .full }
        index = found
      }
      let now = Self.monotonicNow()
      guard now >= rewritesPausedUntil else { return .failed(lastRewriteError) }
      if let error = rewriteSegment(at: index, dropping: lowest.map(UInt8.init)) {
        counters.failedRewrites += 1
        lastRewriteError = error
        rewritesPausedUntil = now + Self.rewritePause
        return .failed(error)
      }
    }
    return .made
  }

  /// Writes a segment anew without its committed records and, when given, those of one rank
  /// (temporary file, fsync, rename, fsync of the directory: a crash leaves the old segment or the
  /// new one, never half). Streams, in chunks of a megabyte. Returns the error that stopped it; the
  /// segment is then as it was.
  private func rewriteSegment(at index: Int, dropping rank: UInt8?) -> Errno? {
    closeActive(ifAt: index)
    forgetRecent()
    let segment = segments[index]
    let temporary = FilePath(segment.path.string + ".tmp")
    var output: FileDescriptor?
    var chunk: [UInt8] = []
    var byRank = Array(repeating: 0, count: Int(Self.ranks))
    var dropped = 0
    var first: UInt64?
    var last = segment.firstSequence
    var bytesWritten: Int64 = 0
    do {
      let reader = try SegmentReader(path: segment.path)
      defer { closeChecked(reader, segment.path) }
      while let (record, _) = try reader.next() {
        guard record.sequence > lastCommitted else { continue }
        if record.rank == rank {
          dropped += 1
          continue
        }
        SegmentFormat.append(sequence: record.sequence, rank: record.rank, payload: record.payload, to: &chunk)
        byRank[Int(record.rank)] += 1
        first = first ?? record.sequence
        last = record.sequence
        if chunk.count >= 1 << 20 { bytesWritten += try write(&chunk, to: &output, temporary) }
      }
      if first != nil {
        bytesWritten += try write(&chunk, to: &output, temporary)
        if let output {
          guard fsync(output.rawValue) == 0 else { throw Errno(rawValue: errno) }
          try output.close()
        }
        output = nil
        guard rename(temporary.string, segment.path.string) == 0 else { throw Errno(rawValue: errno) }
        do { try AtomicFile.syncDirectory(directory.string) } catch { noteFileFailure("fsync", directory, error) }
      }
    } catch {
      if let output { closeChecked(output, "close", temporary) }
      if unlink(temporary.string) != 0, errno != ENOENT {
        noteFileFailure("unlink", temporary, Errno(rawValue: errno))
      }
      noteFileFailure("rewrite", segment.path, error)
      return (error as? Errno) ?? .ioError
    }
    if let rank { noteDropped(dropped, rank: Int(rank)) }
    guard let first else {
      // Nothing left to keep: no write needed, which a full disk allows.
      removeSegment(at: index)
      return nil
    }
    segments[index].firstSequence = first
    segments[index].lastSequence = last
    segments[index].bytes = bytesWritten
    segments[index].pendingByRank = byRank
    segmentRewritten(at: index)
    return nil
  }

  /// Writes and empties `chunk`, opening the temporary file at the first write (a segment that keeps
  /// nothing needs no file, and so no room).
  private func write(_ chunk: inout [UInt8], to output: inout FileDescriptor?, _ temporary: FilePath) throws -> Int64 {
    let descriptor: FileDescriptor
    if let output {
      descriptor = output
    } else {
      descriptor = try FileDescriptor.open(
        temporary, .writeOnly, options: [.create, .truncate, .noFollow, .nonBlocking, .closeOnExec],
        permissions: [.ownerReadWrite])
      output = descriptor
    }
    let written = try chunk.withUnsafeBytes { try descriptor.writeAll($0) }
    chunk.removeAll(keepingCapacity: true)
    return Int64(written)
  }
}

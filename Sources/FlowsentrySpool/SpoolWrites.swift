import FlowsentryCore
import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// Writing segments and the committed position, every result checked.
extension Spool {
  /// Opens a new active segment named after the next sequence, never over a file already there (a
  /// FIFO or a directory under that name is passed over for a later name: recovery orders segments
  /// by the records in them, not by name).
  func startSegment() throws {
    if let active {
      syncChecked(active, segments.last?.path ?? directory)
      closeChecked(active, "close", segments.last?.path ?? directory)
      self.active = nil
    }
    var name = nextSequence
    while true {
      let path = directory.appending(String(format: "%020llu.seg", name))
      do {
        active = try FileDescriptor.open(
          path, .writeOnly, options: [.create, .exclusiveCreate, .append, .noFollow, .nonBlocking, .closeOnExec],
          permissions: [.ownerReadWrite])
      } catch Errno.fileExists where name < nextSequence + 16 {
        name += 1
        continue
      }
      segments.append(
        Segment(
          firstSequence: nextSequence, lastSequence: nextSequence - 1, bytes: 0,
          pendingByRank: Array(repeating: 0, count: Int(Self.ranks)), path: path))
      return
    }
  }

  /// A short write (a full disk) is cut back off the segment so that the next append starts on a
  /// record boundary. When even the cut fails, the segment is closed where it ends (the next append
  /// starts another; readers skip the partial record as damage).
  func writeAll(_ bytes: [UInt8], truncatingTo before: Int64) throws {
    guard let active else { throw Errno.badFileDescriptor }
    do {
      let written = try bytes.withUnsafeBytes { buffer in try active.writeAll(buffer) }
      guard written == bytes.count else { throw Errno.noSpace }
    } catch {
      let last = segments.count - 1
      if ftruncate(active.rawValue, off_t(before)) != 0 {
        noteFileFailure("truncate", segments[last].path, Errno(rawValue: errno))
        var status = stat()
        if fstat(active.rawValue, &status) == 0 {
          segments[last].bytes = Int64(status.st_size)
        } else {
          noteFileFailure("stat", segments[last].path, Errno(rawValue: errno))
        }
        closeChecked(active, "close", segments[last].path)
        self.active = nil
      }
      throw error
    }
  }

  /// Writes the committed position by rename. `durable` (a commit, a sync) also fsyncs the file and
  /// then the directory, so that the rename itself survives a power loss; `markSent` skips that: a
  /// lost or torn write of it fails the file's checksum and recovery falls back to at-least-once.
  /// A failure is counted and the write tried again at the next commit interval.
  func writeCommitted(now: Int64, durable: Bool = true) {
    committedWrittenAt = now
    let path = directory.appending("committed")
    let temporary = directory.appending("committed.tmp")
    let text = CommittedFile.text(committed: lastCommitted, sent: max(lastSent, lastCommitted))
    do {
      let descriptor = try FileDescriptor.open(
        temporary, .writeOnly, options: [.create, .truncate, .noFollow, .nonBlocking, .closeOnExec],
        permissions: [.ownerReadWrite])
      do {
        _ = try text.withUnsafeBytes { try descriptor.writeAll($0) }
        if durable, fsync(descriptor.rawValue) != 0 { throw Errno(rawValue: errno) }
      } catch {
        closeChecked(descriptor, "close", temporary)
        throw error
      }
      try descriptor.close()
      guard rename(temporary.string, path.string) == 0 else { throw Errno(rawValue: errno) }
      if durable { try AtomicFile.syncDirectory(directory.string) }
      committedDirty = false
    } catch {
      committedDirty = true
      noteFileFailure("write", path, error)
    }
  }
}

import Foundation
import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// One output's disk buffer: every record the output must deliver is appended here first, and
/// the output advances the committed sequence only once its receiver accepted a record. What is
/// not committed survives a restart or a `kill -9` and is sent again.
///
/// Segment files (`<first sequence>.seg`, append-only, a CRC-32C per record) and a `committed` file
/// written by rename. Opening recovers: a damaged or truncated segment is kept up to its last good
/// record and the rest counted, never a refusal to start. Full (`maximumBytes`), it drops the lowest
/// rank first: a record of a lower rank than the one arriving leaves the disk, else the arriving one
/// is dropped; both counted per rank. Not thread-safe: one output's thread owns it.
public final class Spool {
  public struct Configuration: Sendable, Equatable {
    public var maximumBytes: Int64 = 256 << 20
    public var segmentBytes: Int64 = 8 << 20
    /// Appends reach the disk (fsync) at most this long after they were made; a `kill -9` loses
    /// nothing either way (the page cache survives the process), a power loss up to this much.
    public var syncIntervalNanoseconds: Int64 = 1_000_000_000
    public init() {}
  }

  public struct Counters: Sendable, Equatable {
    public init() {}
    public var appended: UInt64 = 0
    public var committed: UInt64 = 0
    /// Records dropped because the spool was full, by rank (index = rank).
    public var droppedFull: [UInt64] = Array(repeating: 0, count: Int(Spool.ranks))
    /// Appends that failed (a full disk, an I/O error): the record is lost, and counted here.
    public var failedAppends: UInt64 = 0
    /// Found at open: records recovered, and bytes past a segment's last good record.
    public var recoveredRecords: UInt64 = 0
    public var damagedBytes: UInt64 = 0
    public var damagedSegments: UInt64 = 0
    /// Records whose checksum failed at open (their neighbours were kept).
    public var damagedRecords: UInt64 = 0
  }

  public struct Record: Sendable, Equatable {
    public var sequence: UInt64
    public var rank: UInt8
    public var payload: [UInt8]
  }

  /// Ranks 0 ..< ranks; flowsentry uses 0 for events and 1...5 for alert severities info...critical.
  public static let ranks: UInt8 = 6

  public let directory: FilePath
  public let configuration: Configuration
  public private(set) var counters = Counters()
  public private(set) var lastCommitted: UInt64
  /// The last record handed to a receiver before this run (from the state file): records up to it
  /// that are sent again may already have been delivered.
  public let previouslySent: UInt64
  private var lastSent: UInt64
  public private(set) var nextSequence: UInt64
  /// The last error an append met, for the output's log (a full disk names itself here).
  public private(set) var lastAppendError: Errno?

  var segments: [Segment] = []
  private var active: FileDescriptor?
  private var readCursor: ReadCursor
  /// Appended records not written yet, and their ranks (to undo a failed write).
  private var unwritten: [UInt8] = []
  private var unwrittenRanks: [UInt8] = []
  private var unsyncedSince: Int64?
  /// The newest uncommitted records, consecutive by sequence: the output reads and commits them
  /// from memory while they are here (the usual case: it runs just behind the appends), from the
  /// segments once they fell out.
  var recent: [Record] = []
  var recentHead = 0
  var recentBytes = 0
  static let recentLimit = 16 << 20
  /// The committed position reaches the disk at most this often, and at every sync: a crash
  /// resends what was acknowledged after it (duplicates, never loss).
  private static let commitWriteInterval: Int64 = 100_000_000
  private var committedWrittenAt: Int64 = 0
  private var committedDirty = false

  struct Segment {
    var firstSequence: UInt64
    var lastSequence: UInt64
    var bytes: Int64
    /// Uncommitted records per rank: what a full spool can give up.
    var pendingByRank: [Int]
    var path: FilePath
  }

  private struct ReadCursor {
    var segment = 0
    var offset: Int64 = 0
    /// Records with this sequence or lower have been handed out since the last rewind.
    var lastRead: UInt64
  }

  /// Opens (creating, recovering) the spool in `directory`; fails only when the directory cannot be made.
  public init(directory: FilePath, configuration: Configuration = Configuration()) throws(SpoolError) {
    self.directory = directory
    self.configuration = configuration
    do { try Self.createDirectory(directory) } catch {
      throw SpoolError(directory: directory.string, reason: "\(error)")
    }
    (lastCommitted, previouslySent) = Self.readCommitted(directory.appending("committed"))
    lastSent = previouslySent
    nextSequence = lastCommitted + 1
    readCursor = ReadCursor(lastRead: lastCommitted)
    recover()
  }

  deinit {
    flushAppends()
    if committedDirty { writeCommitted(now: 0) }
    try? active?.close()
  }

  /// Bytes on disk in segments, committed records of the oldest segment included until it is removed.
  public var bytes: Int64 { segments.reduce(0) { $0 + $1.bytes } }

  /// Records appended and not yet committed.
  public var pendingRecords: Int { segments.reduce(0) { $0 + $1.pendingByRank.reduce(0, +) } }

  /// Appends a record; returns its sequence, or nil when it was dropped (full spool, no segment
  /// could be opened), which the counters say. Appends are buffered and written together by
  /// `flushAppends()` (one write for a batch); a write that fails there drops its records, counted.
  @discardableResult
  public func append(_ payload: [UInt8], rank: UInt8, now: Int64) -> UInt64? {
    let rank = min(rank, Self.ranks - 1)
    let size = Int64(SegmentFormat.headerSize + payload.count)
    guard makeRoom(for: size, rank: rank) else {
      counters.droppedFull[Int(rank)] += 1
      return nil
    }
    if active == nil || segments[segments.count - 1].bytes + size > configuration.segmentBytes {
      flushAppends()
      do {
        try startSegment()
      } catch {
        lastAppendError = (error as? Errno) ?? .ioError
        counters.failedAppends += 1
        return nil
      }
    }
    let sequence = nextSequence
    SegmentFormat.append(sequence: sequence, rank: rank, payload: payload, to: &unwritten)
    unwrittenRanks.append(rank)
    nextSequence += 1
    let last = segments.count - 1
    segments[last].lastSequence = sequence
    segments[last].bytes += size
    segments[last].pendingByRank[Int(rank)] += 1
    counters.appended += 1
    remember(Record(sequence: sequence, rank: rank, payload: payload))
    if unsyncedSince == nil { unsyncedSince = now }
    if unwritten.count >= 1 << 20 { flushAppends() }
    return sequence
  }

  /// Writes the buffered appends to the active segment in one write(2). On failure (a full disk)
  /// the segment is cut back and the batch's records are dropped and counted, never half-written.
  public func flushAppends() {
    guard !unwritten.isEmpty else { return }
    defer {
      unwritten.removeAll(keepingCapacity: true)
      unwrittenRanks.removeAll(keepingCapacity: true)
    }
    let last = segments.count - 1
    let before = segments[last].bytes - Int64(unwritten.count)
    do {
      try writeAll(unwritten, truncatingTo: before)
    } catch {
      lastAppendError = (error as? Errno) ?? .ioError
      let count = unwrittenRanks.count
      for rank in unwrittenRanks { segments[last].pendingByRank[Int(rank)] -= 1 }
      segments[last].bytes = before
      segments[last].lastSequence -= UInt64(count)
      nextSequence -= UInt64(count)
      counters.appended -= UInt64(count)
      counters.failedAppends += UInt64(count)
      forgetNewest(count)
    }
  }

  /// Up to `limit` records (and about `maximumBytes`) after the last one handed out, oldest first.
  public func next(limit: Int, maximumBytes: Int = 1 << 20) -> [Record] {
    // Records are handed out only once they are on their way to the disk.
    flushAppends()
    var records: [Record] = []
    var total = 0
    if let first = recentFirst, readCursor.lastRead + 1 >= first {
      var index = recentHead + Int(readCursor.lastRead + 1 - first)
      while index < recent.count, records.count < limit, total < maximumBytes {
        records.append(recent[index])
        total += recent[index].payload.count
        index += 1
      }
      if let last = records.last { readCursor.lastRead = last.sequence }
      return records
    }
    while records.count < limit, total < maximumBytes, readCursor.segment < segments.count {
      let segment = segments[readCursor.segment]
      guard readCursor.offset < segment.bytes else {
        guard readCursor.segment + 1 < segments.count else { break }
        readCursor.segment += 1
        readCursor.offset = 0
        continue
      }
      // A bounded read, then the whole rest when not one record fitted in it.
      var scanned = try? scan(segment.path, from: readCursor.offset, readLimit: maximumBytes + 64 << 10)
      if scanned?.records.isEmpty ?? true { scanned = try? scan(segment.path, from: readCursor.offset) }
      guard let scanned, !scanned.records.isEmpty else {
        readCursor.offset = segment.bytes
        continue
      }
      for (record, end) in scanned.records {
        readCursor.offset = end
        guard record.sequence > readCursor.lastRead else { continue }
        readCursor.lastRead = record.sequence
        records.append(record)
        total += record.payload.count
        if records.count == limit || total >= maximumBytes { break }
      }
    }
    return records
  }

  /// Hands out every uncommitted record again, from the oldest (after a reconnect).
  public func rewind() {
    readCursor = ReadCursor(lastRead: lastCommitted)
  }

  /// Records up to `sequence` were accepted by the receiver: they leave the spool. The position is
  /// written to disk (rename, then fsync) so that a restart resends only what followed it.
  public func commit(through sequence: UInt64, now: Int64 = Spool.monotonicNow()) {
    guard sequence > lastCommitted else { return }
    flushAppends()
    let sequence = min(sequence, nextSequence - 1)
    for index in segments.indices
    where segments[index].firstSequence <= sequence && segments[index].lastSequence > lastCommitted {
      if segments[index].lastSequence <= sequence {
        counters.committed += UInt64(segments[index].pendingByRank.reduce(0, +))
        segments[index].pendingByRank = Array(repeating: 0, count: Int(Self.ranks))
        continue
      }
      // The segment that holds `sequence`: the ranks of its newly committed records, from memory
      // when they are there (the usual case), else from its file.
      let low = max(lastCommitted, segments[index].firstSequence - 1)
      let counts =
        recentRanks(after: low, through: sequence) ?? countPending(in: segments[index], after: low, through: sequence)
      for (rank, count) in counts.enumerated() {
        let taken = min(count, segments[index].pendingByRank[rank])
        segments[index].pendingByRank[rank] -= taken
        counters.committed += UInt64(taken)
      }
    }
    while recentHead < recent.count, recent[recentHead].sequence <= sequence {
      recentBytes -= recent[recentHead].payload.count
      recentHead += 1
    }
    compactRecent()
    lastCommitted = sequence
    if readCursor.lastRead < sequence { readCursor.lastRead = sequence }
    committedDirty = true
    if now - committedWrittenAt >= Self.commitWriteInterval { writeCommitted(now: now) }
    removeFinishedSegments()
  }

  public static func monotonicNow() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
  }

  /// Makes appends durable when the sync interval has passed (the output's loop calls it).
  public func syncIfDue(now: Int64) {
    guard let since = unsyncedSince, now - since >= configuration.syncIntervalNanoseconds else { return }
    sync()
  }

  public func sync() {
    flushAppends()
    if let active { _ = fsync(active.rawValue) }
    unsyncedSince = nil
    if committedDirty { writeCommitted(now: Self.monotonicNow()) }
  }

  // MARK: Files

  private func startSegment() throws {
    if let active {
      _ = fsync(active.rawValue)
      try? active.close()
    }
    let path = directory.appending(String(format: "%020llu.seg", nextSequence))
    active = try FileDescriptor.open(
      path, .writeOnly, options: [.create, .append, .truncate], permissions: [.ownerReadWrite])
    segments.append(
      Segment(
        firstSequence: nextSequence, lastSequence: nextSequence - 1, bytes: 0,
        pendingByRank: Array(repeating: 0, count: Int(Self.ranks)), path: path))
  }

  /// A short write (a full disk) is cut back off the segment so that the next append starts on a
  /// record boundary.
  private func writeAll(_ bytes: [UInt8], truncatingTo before: Int64) throws {
    guard let active else { throw Errno.badFileDescriptor }
    do {
      let written = try bytes.withUnsafeBytes { buffer in try active.writeAll(buffer) }
      guard written == bytes.count else { throw Errno.noSpace }
    } catch {
      _ = ftruncate(active.rawValue, off_t(before))
      throw error
    }
  }

  private func writeCommitted(now: Int64) {
    committedWrittenAt = now
    committedDirty = false
    let path = directory.appending("committed")
    let temporary = directory.appending("committed.tmp")
    let text = Array("\(lastCommitted) \(max(lastSent, lastCommitted))\n".utf8)
    guard
      let descriptor = try? FileDescriptor.open(
        temporary, .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
    else { return }
    _ = try? text.withUnsafeBytes { try descriptor.writeAll($0) }
    try? descriptor.close()
    _ = rename(temporary.string, path.string)
  }

  /// Records up to `sequence` are about to be handed to the receiver: noted on disk first, so that
  /// after a crash the ones sent again are known as possible duplicates.
  public func markSent(through sequence: UInt64) {
    guard sequence > lastSent else { return }
    lastSent = sequence
    writeCommitted(now: Self.monotonicNow())
  }

  private func removeFinishedSegments() {
    while let first = segments.first, first.lastSequence <= lastCommitted, segments.count > 1 {
      removeSegment(at: 0)
    }
    // The active segment, once fully committed, is closed and removed too (the next append starts
    // a new one): a spool with nothing to deliver holds no segment.
    if segments.count == 1, segments[0].lastSequence <= lastCommitted { removeSegment(at: 0) }
  }

  func removeSegment(at index: Int) {
    if index == segments.count - 1, let active {
      try? active.close()
      self.active = nil
    }
    _ = unlink(segments[index].path.string)
    segments.remove(at: index)
    if readCursor.segment > index {
      readCursor.segment -= 1
    } else if readCursor.segment == index {
      readCursor.offset = 0
    }
  }

  /// The read position in a segment rewritten under it: from its start, skipping what was read.
  func segmentRewritten(at index: Int) {
    if readCursor.segment == index { readCursor.offset = 0 }
  }

  /// Closes the active segment (before it is rewritten); the next append opens a new one.
  func closeActive(ifAt index: Int) {
    guard index == segments.count - 1, let active else { return }
    _ = fsync(active.rawValue)
    try? active.close()
    self.active = nil
  }

  func noteRecovered(_ records: UInt64, damagedBytes: UInt64, damagedSegment: Bool) {
    counters.recoveredRecords += records
    counters.damagedBytes += damagedBytes
    if damagedSegment { counters.damagedSegments += 1 }
  }

  func noteDamagedRecords(_ count: Int) {
    counters.damagedRecords += UInt64(count)
  }

  func noteDropped(_ count: Int, rank: Int) {
    counters.droppedFull[rank] += UInt64(count)
  }

  func advanceNextSequence(past sequence: UInt64) {
    nextSequence = max(nextSequence, sequence + 1)
  }
}

public struct SpoolError: Error, CustomStringConvertible {
  public var directory: String
  public var reason: String
  public var description: String { "spool directory \(directory): \(reason)" }
}

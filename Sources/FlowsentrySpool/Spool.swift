import FlowsentryCore
import Foundation
import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// One output's disk buffer: every record the output must deliver is appended here first, and
/// the output advances the committed sequence only once its receiver accepted a record. What is
/// not committed survives a restart or a `kill -9` and is sent again.
///
/// Segment files (`<first sequence>.seg`, append-only, a CRC-32C over each record's header and one
/// over its payload) and a checksummed `committed` file written by rename. Opening recovers (see
/// `Spool.recover`): damage costs only the records it touched, each case is counted and noted in
/// `recoveryNotes`, and it is never a refusal to start. Full (`maximumBytes`), it drops the lowest
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
    /// Found at open: records recovered, and bytes that were no good record (skipped over, or a
    /// torn tail cut off).
    public var recoveredRecords: UInt64 = 0
    public var damagedBytes: UInt64 = 0
    public var damagedSegments: UInt64 = 0
    /// Stretches of damage found at open, each at least one lost record (the records around them were kept).
    public var damagedRecords: UInt64 = 0
    /// Found at open: files named like segments that are no regular file (a directory, a FIFO, a
    /// link) or cannot be opened; left alone.
    public var skippedFiles: UInt64 = 0
    /// Opens whose `committed` file was damaged, out of range or past the last spooled record: every
    /// spooled record is sent again (at-least-once), never discarded.
    public var committedFallbacks: UInt64 = 0
    /// Records sent again because of such a fallback (the receiver may have them already).
    public var fallbackResends: UInt64 = 0
    /// Segment rewrites (making room) that failed: a full disk, a read-only remount, an I/O error.
    /// The arriving record is dropped and counted in `failedAppends`; rewrites pause for a second.
    public var failedRewrites: UInt64 = 0
    /// fsync, close, rename, truncate or unlink calls that failed (`Spool.lastFileError` says which).
    public var failedFileOperations: UInt64 = 0
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
  public internal(set) var counters = Counters()
  public private(set) var lastCommitted: UInt64
  /// The last record handed to a receiver before this run (from the state file): records up to it
  /// that are sent again may already have been delivered.
  public let previouslySent: UInt64
  var lastSent: UInt64
  public private(set) var nextSequence: UInt64
  /// The last error an append met, for the output's log (a full disk names itself here).
  public private(set) var lastAppendError: Errno?
  /// The last failed file operation (`counters.failedFileOperations`), for the output's log.
  public internal(set) var lastFileError: String?
  /// What opening found that an operator should read, one line each (damage, a committed-file
  /// fallback, files left alone); empty for a clean spool.
  public let recoveryNotes: [String]

  var segments: [Segment] = []
  var active: FileDescriptor?
  var readCursor: ReadCursor
  /// Appended records not written yet, and their ranks (to undo a failed write).
  private var unwritten: [UInt8] = []
  private var unwrittenRanks: [UInt8] = []
  private var unsyncedSince: Int64?
  /// After a failed segment rewrite, making room waits until then (monotonic), so that a full or
  /// read-only disk costs one attempt a second, not one per append.
  var rewritesPausedUntil: Int64 = 0
  var lastRewriteError: Errno = .ioError
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
  var committedWrittenAt: Int64 = 0
  var committedDirty = false

  struct Segment {
    var firstSequence: UInt64
    var lastSequence: UInt64
    var bytes: Int64
    /// Uncommitted records per rank: what a full spool can give up.
    var pendingByRank: [Int]
    var path: FilePath
  }

  struct ReadCursor {
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
    let recovery = Self.recover(directory)
    segments = recovery.segments
    counters = recovery.counters
    lastCommitted = recovery.lastCommitted
    previouslySent = recovery.previouslySent
    lastSent = previouslySent
    nextSequence = recovery.nextSequence
    readCursor = ReadCursor(lastRead: lastCommitted)
    recoveryNotes = recovery.notes
    lastFileError = recovery.lastFileError
    // A fallback's position replaces the damaged file at the next write.
    committedDirty = recovery.counters.committedFallbacks > 0
  }

  deinit {
    flushAppends()
    if committedDirty { writeCommitted(now: 0) }
    if let active { closeChecked(active, "close", segments.last?.path ?? directory) }
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
    switch makeRoom(for: size, rank: rank) {
    case .made: break
    case .full:
      counters.droppedFull[Int(rank)] += 1
      return nil
    case .failed(let error):
      lastAppendError = error
      counters.failedAppends += 1
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
      // Cut back, unless the cut failed and the segment was closed at its real end.
      if active != nil { segments[last].bytes = before }
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
      readSegment(segment, limit: limit, maximumBytes: maximumBytes, into: &records, total: &total)
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

  public static func monotonicNow() -> Int64 { MonotonicClock.nanoseconds() }

  /// Makes appends durable when the sync interval has passed (the output's loop calls it).
  public func syncIfDue(now: Int64) {
    guard let since = unsyncedSince, now - since >= configuration.syncIntervalNanoseconds else { return }
    sync()
  }

  public func sync() {
    flushAppends()
    if let active { syncChecked(active, segments.last?.path ?? directory) }
    unsyncedSince = nil
    if committedDirty { writeCommitted(now: Self.monotonicNow()) }
  }

  /// Records up to `sequence` are about to be handed to the receiver: noted on disk first, so that
  /// after a crash the ones sent again are known as possible duplicates.
  public func markSent(through sequence: UInt64) {
    guard sequence > lastSent else { return }
    lastSent = sequence
    writeCommitted(now: Self.monotonicNow(), durable: false)
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
      closeChecked(active, "close", segments[index].path)
      self.active = nil
    }
    // A segment that cannot be removed stays on disk and is recovered (as committed) at the next open.
    if unlink(segments[index].path.string) != 0 {
      noteFileFailure("unlink", segments[index].path, Errno(rawValue: errno))
    }
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
    syncChecked(active, segments[index].path)
    closeChecked(active, "close", segments[index].path)
    self.active = nil
  }

  func noteDropped(_ count: Int, rank: Int) {
    counters.droppedFull[rank] += UInt64(count)
  }
}

public struct SpoolError: Error, CustomStringConvertible {
  public var directory: String
  public var reason: String
  public var description: String { "spool directory \(directory): \(reason)" }
}

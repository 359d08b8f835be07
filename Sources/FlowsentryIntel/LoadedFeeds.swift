import FlowsentryCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What a feed file was to the load that read it.
public enum RecordedFeed: Sendable, Equatable {
  /// The bytes the builder read, fingerprinted in the pass that sized it.
  case read(FeedFingerprint)
  /// Not known: the file changed between the two reads, or could not be fingerprinted.
  case unverified
}

/// Records the feed files the loads run inside `recording(_:)` read (`IntelListLoader.load`, on
/// the same thread): each path's fingerprint, taken in the pass that sizes the builder, is kept
/// only when the path still names the same unchanged file once the builder has read it, so that
/// the fingerprint is of the bytes loaded; and when that pass began, for the periodic check.
public final class FeedFingerprintRecorder: Sendable {
  @TaskLocal static var current: FeedFingerprintRecorder?

  private struct State {
    var scans: [String: FeedScan] = [:]
    var files: [String: RecordedFeed] = [:]
    var readStarts: [String: FeedClockReading] = [:]
  }
  private let state = Mutex(State())
  private let clock: @Sendable () -> FeedClockReading

  public convenience init() { self.init(clock: { .now }) }

  /// `clock` tells when a read begins; a test's may run ahead of the files' times.
  init(clock: @escaping @Sendable () -> FeedClockReading) { self.clock = clock }

  /// Runs `body`, recording the feeds the loads it runs on this thread read.
  public func recording<Value, Failure: Error>(_ body: () throws(Failure) -> Value) throws(Failure) -> Value {
    let result: Result<Value, Failure> = Self.$current.withValue(self) {
      do throws(Failure) {
        return .success(try body())
      } catch {
        return .failure(error)
      }
    }
    return try result.get()
  }

  /// Every feed path read so far.
  public var files: [String: RecordedFeed] { state.withLock { $0.files } }

  /// The feeds read so far and when each was first read.
  var recorded: (files: [String: RecordedFeed], readStarts: [String: FeedClockReading]) {
    state.withLock { ($0.files, $0.readStarts) }
  }

  /// The sizing pass over `path`: its indicator lines and their bytes (`IndicatorLineCounter`), nil when it cannot be read (the load that
  /// follows reports why, naming it).
  func scanBeforeLoading(_ path: String) -> (bytes: Int, lines: Int)? {
    let start = clock()
    switch FeedScanning.scan(path: path, countingLines: true) {
    case .success(let scan):
      state.withLock {
        $0.scans[path] = scan
        // A path two lists name keeps its first read's start, the earlier and so the stricter.
        $0.readStarts[path] = $0.readStarts[path] ?? start
      }
      return (scan.lineBytes, scan.lines)
    case .failure:
      state.withLock { $0.scans[path] = nil }
      return nil
    }
  }

  /// After the builder read `bytesRead` bytes of `path`: its fingerprint holds when the path names
  /// the file it named when scanned, unchanged, and the builder read as many bytes as the scan (a
  /// file truncated and written again within one tick of the file system's clock keeps its times).
  /// A path read twice (two lists) must give the same bytes both times.
  func loaded(_ path: String, bytesRead: Int) {
    let now = FeedFileIdentity(path: path)
    state.withLock { state in
      var recorded = RecordedFeed.unverified
      if let scan = state.scans[path], let now, now == scan.fingerprint.file, bytesRead == scan.fingerprint.size {
        recorded = .read(scan.fingerprint)
      }
      if let earlier = state.files[path], earlier != recorded { recorded = .unverified }
      state.files[path] = recorded
    }
  }
}

/// The feed files a rule set was loaded from: what its lists' `files:` patterns matched, each with
/// its fingerprint. A feed event leaves the set as it is when the patterns match the same files
/// now, each with the same bytes.
public struct LoadedFeeds: Sendable {
  /// The lists' resolved paths and globs (`IntelListSummary.filePatterns`).
  public let patterns: [String]
  public let files: [String: RecordedFeed]
  /// When each file's bytes began to be read; a file without one is read again by the next check.
  let readStarts: [String: FeedClockReading]

  /// Feeds read at moments not known: a periodic check reads each again before it trusts it.
  public init(patterns: [String], files: [String: RecordedFeed]) {
    self.init(patterns: patterns, files: files, readStarts: [:])
  }

  /// The feeds `recorder` saw a load read, under `patterns`.
  public init(patterns: [String], recorder: FeedFingerprintRecorder) {
    let recorded = recorder.recorded
    self.init(patterns: patterns, files: recorded.files, readStarts: recorded.readStarts)
  }

  init(patterns: [String], files: [String: RecordedFeed], readStarts: [String: FeedClockReading]) {
    self.patterns = patterns
    self.files = files
    self.readStarts = readStarts
  }

  public enum Comparison: Sendable, Equatable {
    /// The same files with the same bytes; `files` were compared.
    case unchanged(files: Int)
    /// What differs, for the log: a file added, removed, changed or unreadable.
    case changed(String)
  }

  /// Compares the files on disk with the loaded ones: the paths the patterns match first, then every
  /// size (a `stat` each), then every file's bytes. With `trustingSettledFiles`, a file that is
  /// still the one read (same device, inode, size and times) is not read again, unless its times
  /// were within `racyWindowSeconds` of its read (a write landing in the same tick of the file
  /// system's clock right after the read would have left them as they were) or the wall clock was
  /// stepped since: a periodic check costs a `stat` a file, while a feed event, which may come from
  /// such a write, reads every byte. Reads whole files, blocking: call it from a thread of its own,
  /// never the shared pool.
  public func compareWithFiles(trustingSettledFiles: Bool = false) -> Comparison {
    comparedWithFiles(trustingSettledFiles: trustingSettledFiles).comparison
  }

  /// `compareWithFiles`, and these feeds with each file it read and found unchanged known as the
  /// file it is now, read now (a feed renamed over with the same bytes, or one written too close to
  /// its read to be trusted): a periodic check then trusts it without reading it again once its
  /// times are older than the read by `racyWindowSeconds`.
  public func comparedWithFiles(trustingSettledFiles: Bool = false) -> (comparison: Comparison, feeds: LoadedFeeds) {
    comparedWithFiles(trustingSettledFiles: trustingSettledFiles, clock: { .now })
  }

  /// As `comparedWithFiles(trustingSettledFiles:)`, with `clock` telling when each read begins.
  func comparedWithFiles(trustingSettledFiles: Bool, clock: () -> FeedClockReading) -> (
    comparison: Comparison, feeds: LoadedFeeds
  ) {
    var refreshed = files
    var refreshedStarts = readStarts
    let comparison = compare(trustingSettledFiles: trustingSettledFiles, clock: clock) { path, scan, start in
      refreshed[path] = .read(scan.fingerprint)
      refreshedStarts[path] = start
    }
    return (comparison, LoadedFeeds(patterns: patterns, files: refreshed, readStarts: refreshedStarts))
  }

  /// How many seconds older than its read a file's times must be for a periodic check to trust it
  /// unread: a tick of the coarsest file system clock (FAT's, 2 s), far more than the lag of the
  /// kernel's coarse clock behind the one reads are timed by. A network file system whose server's
  /// clock runs behind this host's by more than that may still hide a write within its tick.
  static let racyWindowSeconds = 2

  private func compare(
    trustingSettledFiles: Bool, clock: () -> FeedClockReading,
    foundUnchanged: (String, FeedScan, FeedClockReading) -> Void
  ) -> Comparison {
    let checked = clock()
    var current: Set<String> = []
    for pattern in patterns {
      switch Self.paths(matching: pattern) {
      case .success(let paths): current.formUnion(paths)
      case .failure(let error): return .changed("\(error)")
      }
    }
    if let added = current.subtracting(files.keys).min() { return .changed("\(added) is new") }
    if let removed = Set(files.keys).subtracting(current).min() { return .changed("\(removed) is gone") }
    var fingerprints: [(path: String, fingerprint: FeedFingerprint)] = []
    for path in current.sorted() {
      guard case .read(let fingerprint) = files[path] else { return .changed("\(path) changed while it loaded") }
      guard let identity = FeedFileIdentity(path: path), identity.size == Int64(fingerprint.size) else {
        return .changed("\(path) changed size or cannot be read")
      }
      if trustingSettledFiles, fingerprint.file == identity, let start = readStarts[path],
        identity.isSettled(before: start, checkedAt: checked)
      {
        continue
      }
      fingerprints.append((path, fingerprint))
    }
    for (path, fingerprint) in fingerprints {
      let start = clock()
      switch FeedScanning.scan(path: path, countingLines: false) {
      case .success(let scan) where scan.fingerprint == fingerprint: foundUnchanged(path, scan, start)
      case .success: return .changed("\(path) changed")
      case .failure(let error): return .changed("\(error)")
      }
    }
    return .unchanged(files: current.count)
  }

  /// The files the patterns match now, each as it stands (a `stat` each, nothing read), to tell by
  /// `FeedFilesSnapshot.matches` whether any was added, removed or written since.
  public func snapshotOfFiles() -> FeedFilesSnapshot { snapshotOfFiles(takenAt: .now) }

  /// As `snapshotOfFiles()`, taken at `reading` (a test's may run ahead of the files' times).
  func snapshotOfFiles(takenAt reading: FeedClockReading) -> FeedFilesSnapshot {
    var snapshot = FeedFilesSnapshot(taken: reading)
    for pattern in patterns {
      switch Self.paths(matching: pattern) {
      case .success(let paths):
        for path in paths { snapshot.files[path] = FeedFileIdentity(path: path) }
      case .failure(let error): snapshot.unreadable.append("\(error)")
      }
    }
    return snapshot
  }

  /// The files a pattern names now, as the loader finds them: a plain path is read whatever it is, a
  /// glob under a directory that does not exist matches nothing (`RuleSetBuilder.loadFiles`), and a
  /// glob's match that is not a regular file is skipped.
  static func paths(matching pattern: String) -> Result<[String], IntelFeedError> {
    guard pattern.contains(where: { "*?[".contains($0) }) else { return .success([pattern]) }
    var status = stat()
    guard stat(IntelListLoader.globDirectory(pattern), &status) == 0 else { return .success([]) }
    do throws(IntelFeedError) {
      return .success(try IntelListLoader.expandToFeeds(pattern).files)
    } catch {
      return .failure(error)
    }
  }

}

/// The feed files a rule set's patterns matched at one moment, each by its identity
/// (``LoadedFeeds/snapshotOfFiles()``).
public struct FeedFilesSnapshot: Sendable {
  fileprivate var files: [String: FeedFileIdentity?] = [:]
  fileprivate var unreadable: [String] = []
  /// When the identities were taken.
  let taken: FeedClockReading

  fileprivate init(taken: FeedClockReading) { self.taken = taken }

  /// Whether `later` finds the same files unwritten since this snapshot: the same identities, each
  /// settled before this one was taken (`FeedFileIdentity.isSettled`), as the periodic check trusts
  /// a file unread. An equal identity written within a tick of the file system's clock of this
  /// snapshot, or across a step of the wall clock, may hide a write, so it never matches.
  public func matches(_ later: FeedFilesSnapshot) -> Bool {
    files == later.files && unreadable == later.unreadable
      && files.values.allSatisfy { identity in
        identity.map { $0.isSettled(before: taken, checkedAt: later.taken) } ?? true
      }
  }
}

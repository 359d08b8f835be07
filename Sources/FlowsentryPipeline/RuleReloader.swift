import FlowsentryCore
import FlowsentryIntel
import FlowsentryRules
import Foundation
import Synchronization

/// Loads a rule chain again while the pipeline runs, so that nothing in a rule file can stop or
/// stall the sensor: the load runs on a thread of its own (it reads files and compiles regexes,
/// blocking, and may be slow), at most one at a time and within a time limit; a set that loaded
/// waits in `pending` for the pipeline to take it between two batches, and a failure leaves the
/// running set as it is.
public final class RuleReloader: Sendable {
  /// What a monitor loads: the built-in rules or not, then the paths.
  public struct Chain: Sendable {
    public var builtIn: Bool
    public var paths: [String]

    public init(builtIn: Bool, paths: [String]) {
      self.builtIn = builtIn
      self.paths = paths
    }
  }

  public enum Outcome: Sendable {
    /// Loaded and waiting in `pending` for the next batch.
    case loaded(RuleSet)
    /// The files do not validate (every problem, positioned); the running set stays.
    case failed([Diagnostic])
    /// Not loaded within the limit; the load finishes on its thread and is then discarded.
    case timedOut(Duration)
    /// Another load is still running (a reload asked for meanwhile, or one that timed out), so
    /// nothing was started; or the caller was cancelled (shutdown) first, and what it started
    /// finishes on its thread and is discarded.
    case busy
  }

  /// What a feed change came to.
  public enum FeedChangeOutcome: Sendable {
    /// Nothing loaded: the feed patterns of the running set match the files it loaded, each holding
    /// the bytes it loaded; `filesCompared` were read.
    case feedsUnchanged(filesCompared: Int)
    /// A feed differs (or could not be compared): the chain was loaded again.
    case reloaded(Outcome)
    /// The comparison ran past its limit (a feed on a slow or hung file system): nothing loaded, and
    /// the comparison finishes on its thread, loading nothing after it.
    case comparisonTimedOut(Duration)
    /// A periodic check found the feeds as they were when its last load of them failed or timed
    /// out, or its last comparison ran past its limit: not loaded again (a feed event or SIGHUP
    /// still loads).
    case unloadableAsBefore
  }

  /// What asked for a reload, counted by `reloads(by:)`.
  public enum Cause: String, Sendable, CaseIterable {
    /// SIGHUP (`systemctl reload`).
    case signal
    /// A feed file of a typed list was replaced (`FeedWatcher`).
    case feedChange = "feed_change"
  }

  /// Deep nesting in a file recurses in the parser and compiler: room for it beyond a default
  /// thread's 8 MiB (only the pages touched are committed).
  static let loaderStackBytes = 256 << 20

  public let chain: Chain
  /// How long a load may run, from its start, before its caller is answered `.timedOut` (the load
  /// runs on, and its set is discarded). A feed change's comparison before it has a limit of its
  /// own, as long: hashing the feeds takes none of the load's time.
  public var timeLimit: Duration { limit.withLock { $0 } }
  private let limit: Mutex<Duration>
  private let load: @Sendable (Chain) throws(RuleLoadError) -> RuleSet
  private let compareFeeds: @Sendable (LoadedFeeds, _ trustingSettledFiles: Bool) -> FeedComparison
  private let snapshotFeeds: @Sendable (LoadedFeeds) -> FeedFilesSnapshot
  private let loading = Atomic<Bool>(false)
  private let pendingRules = Mutex<RuleSet?>(nil)
  // Counted here, read in RuleReloaderMetrics.swift.
  let reloadCounts = Mutex<[Cause: Int]>([:])
  let failureCounts = Mutex<[Cause: Int]>([:])
  let skippedCount = Atomic<Int>(0)
  /// When the set running or pending was loaded (Unix seconds, wall clock); 0 before the first.
  let loadedAtSeconds = Atomic<Int64>(0)
  /// The feed files of the set running or pending (the last one handed to the pipeline); nil until
  /// one loaded, and then a feed change reloads.
  private let runningFeeds = Mutex<LoadedFeeds?>(nil)
  /// The feed files as a periodic check found them when the load it started did not load (failed
  /// or timed out) or its comparison ran past its limit: while they match (`FeedFilesSnapshot.matches`),
  /// a check does not load or hash them again every few minutes.
  private let unloadableFeeds = Mutex<FeedFilesSnapshot?>(nil)
  /// The typed lists of the set running or pending, which a reload's lists are compared with
  /// (`RuleSet.warningsForShrunkLists`).
  private let runningIntelLists = Mutex<[IntelListSummary]>([])
  /// The state directory whose pattern cache is pruned to the set taken to run (nil: none is).
  let patternCacheStateDirectory: String?
  // Counted here, read in RuleReloaderMetrics.swift.
  let patternCachePrunings = Mutex(PatternCachePruningCounts())

  /// `load` is `RuleLoader.loadChain` unless a test needs another.
  /// With `patternCacheStateDirectory`, each set taken to run (the first, and each reload offered
  /// to the pipeline) has its pattern sets built with the cache there, if its load did not build
  /// them, and prunes `state_dir/patterns` to the files it uses (`RuleSet.prunePatternCache`).
  public convenience init(
    chain: Chain, timeLimit: Duration = .seconds(60), patternCacheStateDirectory: String? = nil,
    load: @escaping @Sendable (Chain) throws(RuleLoadError) -> RuleSet = { chain throws(RuleLoadError) in
      try RuleLoader.loadChain(builtIn: chain.builtIn, paths: chain.paths)
    }
  ) {
    self.init(
      chain: chain, timeLimit: timeLimit, load: load, patternCacheStateDirectory: patternCacheStateDirectory
    ) { feeds, trustingSettledFiles in
      feeds.comparedWithFiles(trustingSettledFiles: trustingSettledFiles)
    }
  }

  /// With `compareFeeds` in place of `LoadedFeeds.comparedWithFiles`, for a test that times it, and
  /// `snapshotFeeds` in place of `LoadedFeeds.snapshotOfFiles`, for one whose clock runs ahead.
  init(
    chain: Chain, timeLimit: Duration, load: @escaping @Sendable (Chain) throws(RuleLoadError) -> RuleSet,
    patternCacheStateDirectory: String? = nil,
    compareFeeds: @escaping @Sendable (LoadedFeeds, _ trustingSettledFiles: Bool) -> FeedComparison,
    snapshotFeeds: @escaping @Sendable (LoadedFeeds) -> FeedFilesSnapshot = { $0.snapshotOfFiles() }
  ) {
    self.chain = chain
    limit = Mutex(timeLimit)
    self.load = load
    self.compareFeeds = compareFeeds
    self.snapshotFeeds = snapshotFeeds
    self.patternCacheStateDirectory = patternCacheStateDirectory
  }

  typealias FeedComparison = (comparison: LoadedFeeds.Comparison, feeds: LoadedFeeds)

  /// From the next attempt on: a test's parts that must succeed on a loaded machine get a longer
  /// limit than the part before them that times out.
  func setTimeLimit(_ timeLimit: Duration) { limit.withLock { $0 = timeLimit } }

  /// The feed files of the set running or pending, as it loaded them.
  public var loadedFeeds: LoadedFeeds? { runningFeeds.withLock { $0 } }

  /// Runs the monitor's first load, `load`, on a loader thread (it reads every rule file and feed,
  /// blocking), recording the feed files it reads as the running set's, so that a feed change that
  /// changes no byte is skipped from the start.
  public func loadFirst(_ load: @escaping @Sendable () -> RuleSet?) async -> RuleSet? {
    await withCheckedContinuation { (continuation: CheckedContinuation<RuleSet?, Never>) in
      let thread = Thread { [self] in
        let recorder = FeedFingerprintRecorder()
        let rules = recorder.recording(load).map(pruningCache)
        if let rules {
          runningFeeds.withLock { $0 = LoadedFeeds(rules, recorder) }
          loadedAtSeconds.store(Int64(time(nil)), ordering: .relaxed)
          runningIntelLists.withLock { $0 = rules.intelLists }
        }
        continuation.resume(returning: rules)
      }
      thread.name = "flowsentry-rules"
      thread.stackSize = Self.loaderStackBytes
      thread.start()
    }
  }

  /// The set loaded last, once: the pipeline swaps it in between batches, so that no event sees
  /// half of each set.
  public func takePending() -> RuleSet? {
    pendingRules.withLock { $0.take() }
  }

  /// What a caller is told, on the loader thread, as its load starts: a load of millions of
  /// indicators runs for seconds before its outcome, and a log silent meanwhile looks like a hang.
  /// Never for a load that does not start (a feed change found unchanged or not compared in time, a
  /// caller cancelled while it waited), so that each start has an outcome after it.
  public typealias LoadStart = @Sendable () -> Void

  /// Loads the chain on the loader thread and waits for it, at most `timeLimit`. The running set
  /// stays in use (and in memory) until the new one is taken, so a reload peaks at both sets.
  public func reload(cause: Cause = .signal, onLoadStart: @escaping LoadStart = {}) async -> Outcome {
    count(cause)
    return countingFailure(await loadOnce(skippingUnchangedFeeds: false, onLoadStart: onLoadStart).outcome, cause)
  }

  /// As `reload`, for a change that a load already running may have missed (it may have read a
  /// feed before the operator's job replaced it): waits for that load to end, then loads again.
  /// `.busy` only when the task is cancelled first.
  public func reloadAfterTheRunningOne(cause: Cause, onLoadStart: @escaping LoadStart = {}) async -> Outcome {
    count(cause)
    return countingFailure(
      await attemptAfterTheRunningOne(skippingUnchangedFeeds: false, onLoadStart: onLoadStart).outcome, cause)
  }

  /// As `reloadAfterTheRunningOne(cause: .feedChange)`, unless the running set's feed patterns match
  /// the files it loaded, each still holding the bytes it loaded (`LoadedFeeds.compareWithFiles`,
  /// on the loader thread): then nothing loads, and the change counts in `skippedReloads` instead
  /// of as a reload. A file that cannot be compared reloads, which then reports it.
  public func reloadUnlessFeedsUnchanged(onLoadStart: @escaping LoadStart = {}) async -> FeedChangeOutcome {
    let attempt = await attemptAfterTheRunningOne(skippingUnchangedFeeds: true, onLoadStart: onLoadStart)
    if case .skipped(let files) = attempt {
      skippedCount.add(1, ordering: .relaxed)
      return .feedsUnchanged(filesCompared: files)
    }
    return countingFailure(attempt.feedChangeOutcome)
  }

  /// The periodic check behind the feed watch, for what no watch reports (a feed directory made
  /// or replaced after the start, one past the watch limit, a change before the watch began): as
  /// `reloadUnlessFeedsUnchanged`, but a file still the one read (not written since, nor within
  /// 2 s before that read, the wall clock not stepped since) is not read again, feeds that failed
  /// to load or to be compared are left alone while they stay so, by the same rule, and finding
  /// nothing changed counts nothing. A reload it makes counts as a feed change.
  public func checkFeeds(onLoadStart: @escaping LoadStart = {}) async -> FeedChangeOutcome {
    countingFailure(
      await attemptAfterTheRunningOne(
        skippingUnchangedFeeds: true, trustingSettledFiles: true, onLoadStart: onLoadStart
      ).feedChangeOutcome)
  }

  private func attemptAfterTheRunningOne(
    skippingUnchangedFeeds: Bool, trustingSettledFiles: Bool = false, onLoadStart: @escaping LoadStart
  ) async -> Attempt {
    while !Task.isCancelled {
      while loading.load(ordering: .acquiring), !Task.isCancelled { try? await Task.sleep(for: .milliseconds(100)) }
      guard !Task.isCancelled else { break }
      let attempt = await loadOnce(
        skippingUnchangedFeeds: skippingUnchangedFeeds, trustingSettledFiles: trustingSettledFiles,
        onLoadStart: onLoadStart)
      if case .finished(.busy) = attempt { continue }
      return attempt
    }
    return .finished(.busy)
  }

  /// A load, or a feed change found to change nothing or not compared in time.
  enum Attempt: Sendable {
    case skipped(files: Int)
    case unloadableAsBefore
    case comparisonTimedOut(Duration)
    case finished(Outcome)

    var outcome: Outcome {
      switch self {
      case .finished(let outcome): return outcome
      // Only a feed change compares, and it asks for `feedChangeOutcome` instead.
      case .skipped, .unloadableAsBefore, .comparisonTimedOut: return .busy
      }
    }

    var feedChangeOutcome: FeedChangeOutcome {
      switch self {
      case .skipped(let files): return .feedsUnchanged(filesCompared: files)
      case .unloadableAsBefore: return .unloadableAsBefore
      case .comparisonTimedOut(let limit): return .comparisonTimedOut(limit)
      case .finished(let outcome): return .reloaded(outcome)
      }
    }
  }

  /// One attempt on the loader thread. For a feed change, the comparison first, within `timeLimit`:
  /// past it, the caller is answered `.comparisonTimedOut`, the change counted, and nothing loads.
  /// Then the load, within `timeLimit` from its start, a feed change counted as it starts. A caller
  /// cancelled meanwhile is answered `.busy` at once; the thread runs on and its result is discarded,
  /// as a timed-out one is.
  private func loadOnce(
    skippingUnchangedFeeds: Bool, trustingSettledFiles: Bool = false, onLoadStart: @escaping LoadStart
  ) async -> Attempt {
    guard !loading.exchange(true, ordering: .acquiringAndReleasing) else { return .finished(.busy) }
    let timeLimit = timeLimit
    let caller = WaitingCaller(timeLimit: timeLimit)
    return await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Attempt, Never>) in
        guard caller.attach(continuation) else {
          loading.store(false, ordering: .releasing)
          continuation.resume(returning: .finished(.busy))
          return
        }
        startLoaderThread(
          caller, timeLimit: timeLimit, skippingUnchangedFeeds: skippingUnchangedFeeds,
          trustingSettledFiles: trustingSettledFiles, onLoadStart: onLoadStart)
      }
    } onCancel: {
      caller.cancel()
    }
  }

  private func startLoaderThread(
    _ caller: WaitingCaller, timeLimit: Duration, skippingUnchangedFeeds: Bool, trustingSettledFiles: Bool,
    onLoadStart: @escaping LoadStart
  ) {
    if skippingUnchangedFeeds {
      caller.startPhase(onTimeout: { [self] in count(.feedChange) }, answer: .comparisonTimedOut(timeLimit))
    }
    let thread = Thread { [self] in
      // Compared here, holding the loader, so that no load can change the running feeds meanwhile.
      let feeds = skippingUnchangedFeeds ? runningFeeds.withLock({ $0 }) : nil
      // A periodic check neither compares nor loads again what failed to load (or to be compared)
      // if unwritten since. Its snapshot precedes the comparison: a write after it is seen next time.
      let snapshot = trustingSettledFiles ? feeds.map(snapshotFeeds) : nil
      if let snapshot, unloadableFeeds.withLock({ $0 })?.matches(snapshot) == true {
        let waiter = caller.take()
        loading.store(false, ordering: .releasing)
        waiter?.resume(returning: .unloadableAsBefore)
        return
      }
      if let feeds {
        let compared = compareFeeds(feeds, trustingSettledFiles)
        if case .unchanged(let files) = compared.comparison {
          // The same bytes under new files: known as those files now, so a check need not read them.
          runningFeeds.withLock { $0 = compared.feeds }
          let waiter = caller.take()
          loading.store(false, ordering: .releasing)
          waiter?.resume(returning: .skipped(files: files))
          return
        }
      }
      // A comparison past its limit (or a caller cancelled) was answered: loading now would only be
      // discarded. A periodic check's feeds, as found, are not compared again while they stay so.
      guard caller.startPhase(answer: .finished(.timedOut(timeLimit))) else {
        if let snapshot, !caller.wasCancelled { unloadableFeeds.withLock { $0 = snapshot } }
        loading.store(false, ordering: .releasing)
        return
      }
      if skippingUnchangedFeeds { count(.feedChange) }
      onLoadStart()
      let recorder = FeedFingerprintRecorder()
      var outcome: Outcome
      do throws(RuleLoadError) {
        outcome = .loaded(try recorder.recording { () throws(RuleLoadError) in try load(chain) })
      } catch {
        outcome = .failed(error.diagnostics)
      }
      // Offered only when still awaited: a load that timed out is discarded. The set is pending
      // and the loader free before the caller resumes, so a reload asked for right after this
      // one finds it idle, and no older set can land after a newer one. The feeds recorded go with
      // the set: a set that failed or came too late leaves the running one's.
      let waiter = caller.take()
      if waiter != nil, case .loaded(var rules) = outcome {
        // Among the set's warnings, which each reload logs: a feed that lost most of its list.
        rules.warnings += rules.warningsForShrunkLists(comparedWith: runningIntelLists.withLock { $0 })
        // This set runs next: the cache files no set of it uses go (a refused, timed-out or
        // discarded load never gets here, so the running set's files stay until one replaces it).
        rules = pruningCache(to: rules)
        runningIntelLists.withLock { $0 = rules.intelLists }
        outcome = .loaded(rules)
        pendingRules.withLock { $0 = rules }
        runningFeeds.withLock { $0 = LoadedFeeds(rules, recorder) }
        loadedAtSeconds.store(Int64(time(nil)), ordering: .relaxed)
        unloadableFeeds.withLock { $0 = nil }
      } else if let snapshot, !caller.wasCancelled {
        unloadableFeeds.withLock { $0 = snapshot }
      }
      loading.store(false, ordering: .releasing)
      waiter?.resume(returning: .finished(outcome))
    }
    thread.name = "flowsentry-rules"
    thread.stackSize = Self.loaderStackBytes
    thread.start()
  }

  private func count(_ cause: Cause) {
    reloadCounts.withLock { $0[cause, default: 0] += 1 }
  }
}

extension LoadedFeeds {
  /// The feeds `recorder` saw `rules` load, under the patterns its lists name.
  init(_ rules: RuleSet, _ recorder: FeedFingerprintRecorder) {
    self.init(patterns: rules.intelLists.flatMap(\.filePatterns), recorder: recorder)
  }
}

import FlowsentryCore
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
    /// The previous load is still running (it timed out); nothing was started.
    case busy
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
  public let timeLimit: Duration
  private let load: @Sendable (Chain) throws(RuleLoadError) -> RuleSet
  private let loading = Atomic<Bool>(false)
  private let pendingRules = Mutex<RuleSet?>(nil)
  private let reloadCounts = Mutex<[Cause: Int]>([:])

  /// Reloads asked for with `cause`, whatever their outcome.
  public func reloads(by cause: Cause) -> Int {
    reloadCounts.withLock { $0[cause, default: 0] }
  }

  /// The counter table's rows: reloads asked for, by cause, every cause listed from the start.
  public var samples: [MetricSample] { Self.samples { reloads(by: $0) } }

  /// The rows for reloads counted by `reloads` (the table at zero, before a reloader exists).
  public static func samples(reloads: (Cause) -> Int) -> [MetricSample] {
    Cause.allCases.map { cause in
      .counter(
        "flowsentry_rule_reloads_total", UInt64(max(0, reloads(cause))), [("cause", cause.rawValue)],
        help: "Rule reloads asked for (SIGHUP, or a feed file replaced), whatever their outcome.")
    }
  }

  /// `load` is `RuleLoader.loadChain` unless a test needs another.
  public init(
    chain: Chain, timeLimit: Duration = .seconds(60),
    load: @escaping @Sendable (Chain) throws(RuleLoadError) -> RuleSet = { chain throws(RuleLoadError) in
      try RuleLoader.loadChain(builtIn: chain.builtIn, paths: chain.paths)
    }
  ) {
    self.chain = chain
    self.timeLimit = timeLimit
    self.load = load
  }

  /// The set loaded last, once: the pipeline swaps it in between batches, so that no event sees
  /// half of each set.
  public func takePending() -> RuleSet? {
    pendingRules.withLock { $0.take() }
  }

  /// Loads the chain on the loader thread and waits for it, at most `timeLimit`. The running set
  /// stays in use (and in memory) until the new one is taken, so a reload peaks at both sets.
  public func reload(cause: Cause = .signal) async -> Outcome {
    reloadCounts.withLock { $0[cause, default: 0] += 1 }
    guard !loading.exchange(true, ordering: .acquiringAndReleasing) else { return .busy }
    return await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
      let first = FirstOutcome(continuation)
      let timer = Task { [timeLimit] in
        try? await Task.sleep(for: timeLimit)
        if !Task.isCancelled { first.take()?.resume(returning: .timedOut(timeLimit)) }
      }
      let thread = Thread { [self] in
        let outcome: Outcome
        do throws(RuleLoadError) {
          outcome = .loaded(try load(chain))
        } catch {
          outcome = .failed(error.diagnostics)
        }
        // Offered only when still awaited: a load that timed out is discarded. The set is pending
        // and the loader free before the caller resumes, so a reload asked for right after this
        // one finds it idle, and no older set can land after a newer one.
        let waiter = first.take()
        if waiter != nil, case .loaded(let rules) = outcome { pendingRules.withLock { $0 = rules } }
        timer.cancel()
        loading.store(false, ordering: .releasing)
        waiter?.resume(returning: outcome)
      }
      thread.name = "flowsentry-rules"
      thread.stackSize = Self.loaderStackBytes
      thread.start()
    }
  }
}

/// Hands a continuation to the first of the loader and the timer; the other's outcome is dropped.
private final class FirstOutcome: Sendable {
  private let continuation: Mutex<CheckedContinuation<RuleReloader.Outcome, Never>?>

  init(_ continuation: CheckedContinuation<RuleReloader.Outcome, Never>) {
    self.continuation = Mutex(continuation)
  }

  /// The continuation, to the first caller only; later callers get nil.
  func take() -> CheckedContinuation<RuleReloader.Outcome, Never>? {
    continuation.withLock { $0.take() }
  }
}

import Synchronization

/// What the monitor's feed watch has been asked to do and not done yet, coalesced: the feed events
/// (their paths, merged) and the periodic check that stands behind them. A request taken covers
/// every one made before it, so that a burst of events, or events during a reload, make one
/// comparison, not a queue of them.
public final class FeedCheckRequests: Sendable {
  public enum Request: Sendable, Equatable {
    /// Feeds changed under a watched directory: compare every byte.
    case feedEvent(paths: [String])
    /// The periodic check: files not written since they were read are trusted.
    case periodicCheck
  }

  private struct Pending {
    var paths: Set<String> = []
    var event = false
    var check = false
  }
  private let pending = Mutex(Pending())

  public init() {}

  public func noteFeedEvent(paths: [String]) {
    pending.withLock {
      $0.event = true
      $0.paths.formUnion(paths)
    }
  }

  public func notePeriodicCheck() {
    pending.withLock { $0.check = true }
  }

  /// The next thing to do, and everything asked for so far is covered by it: a feed event, which
  /// reads every byte, serves a check asked for too.
  public func take() -> Request? {
    pending.withLock { pending in
      defer { pending = Pending() }
      if pending.event { return .feedEvent(paths: pending.paths.sorted()) }
      return pending.check ? .periodicCheck : nil
    }
  }
}

/// The monitor's feed watch, apart from its log: a feed file of a typed list replaced (the
/// operator's refresh job renames it into place) reloads the rules as SIGHUP does, off the
/// pipeline, and a refresh that leaves every feed's bytes as the running set loaded them reloads
/// nothing (a reload of millions of indicators costs seconds of CPU and twice their memory). The
/// directories watched are those of `patterns`; what no watch can report (a feed directory made or
/// replaced later, one past the watch limit, no inotify, a change before the watch began) is found
/// by a check right after the watch starts and every `checkInterval` after it, which costs a
/// `stat` a feed file (a feed renamed over with the same bytes, or read right after it was written,
/// is read once more, then trusted on its `stat`). The checks follow the running set's feeds, so
/// lists a SIGHUP adds are checked too.
public struct FeedWatchLoop: Sendable {
  public static let defaultCheckInterval: Duration = .seconds(300)

  /// What the loop did, for the log.
  public enum Report: Sendable {
    /// No inotify: the feeds are checked every `checkInterval` and on SIGHUP only.
    case watchUnavailable(FeedWatchError)
    /// A feed directory no watch covers, and why; the checks still find its changes.
    case unwatched(directory: String, reason: String)
    /// A feed event or a periodic check found a feed changed (or one it could not compare), and
    /// the load starts; `handled` follows with what it came to. Reported from the loader thread,
    /// never after the request's `handled`.
    case loading(FeedCheckRequests.Request)
    /// A feed event or a periodic check, what it came to, and whether its `loading` was reported
    /// (a request cut short by shutdown may have started its load or not).
    case handled(FeedCheckRequests.Request, RuleReloader.FeedChangeOutcome, loadStarted: Bool)
  }

  public let reloader: RuleReloader
  public let patterns: [String]
  public let checkInterval: Duration
  /// How long the feed directories stay quiet after a change before it counts (`FeedWatcher`).
  public let settle: Duration

  public init(
    reloader: RuleReloader, patterns: [String], checkInterval: Duration = defaultCheckInterval,
    settle: Duration = .seconds(1)
  ) {
    self.reloader = reloader
    self.patterns = patterns
    self.checkInterval = checkInterval
    self.settle = settle
  }

  /// Watches and checks until the task is cancelled, handing `report` what it does (`.loading` from
  /// the loader thread, the rest from this task). A request being handled is answered `.busy` at
  /// once then, its load left to end on its thread, discarded.
  public func run(report: @escaping @Sendable (Report) -> Void) async {
    let requests = FeedCheckRequests()
    // A wake-up dropped loses nothing: the requests wait, coalesced, in `requests`.
    let (wakeUps, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    // With no feed at start there is nothing to watch, but the checks run: a SIGHUP may add lists.
    var watcher: FeedWatcher?
    do {
      if !patterns.isEmpty { watcher = try FeedWatcher(patterns: patterns, settle: settle) }
    } catch {
      report(.watchUnavailable(error))
    }
    for (directory, reason) in watcher?.unwatched ?? [] { report(.unwatched(directory: directory, reason: reason)) }
    watcher?.start { paths in
      requests.noteFeedEvent(paths: paths)
      continuation.yield()
    }
    defer { watcher?.stop() }
    // The first check covers a refresh between the first load and the watch's start.
    requests.notePeriodicCheck()
    continuation.yield()
    let timer = Task { [checkInterval] in
      while !Task.isCancelled {
        try? await Task.sleep(for: checkInterval)
        requests.notePeriodicCheck()
        continuation.yield()
      }
    }
    defer { timer.cancel() }
    for await _ in wakeUps {
      while let request = requests.take() {
        // Each request its own: a late start of one cut short at shutdown is not another's.
        let start = LoadStartLine()
        let loading: RuleReloader.LoadStart = { start.sayStart { report(.loading(request)) } }
        let outcome: RuleReloader.FeedChangeOutcome
        switch request {
        case .feedEvent: outcome = await reloader.reloadUnlessFeedsUnchanged(onLoadStart: loading)
        case .periodicCheck: outcome = await reloader.checkFeeds(onLoadStart: loading)
        }
        report(.handled(request, outcome, loadStarted: start.answer()))
      }
    }
  }
}

import FlowsentryCore
import FlowsentryPipeline
import FlowsentryRules
import Logging
import ServiceLifecycle

/// The feed watch (`FeedWatchLoop`: feed events and periodic checks reload the rules off the
/// pipeline, unless every feed holds the running set's bytes) for the set loaded at start, logged.
struct FeedWatchService: Service {
  let loop: FeedWatchLoop
  let logger: Logger

  init(
    reloader: RuleReloader, rules: RuleSet, logger: Logger,
    checkInterval: Duration = FeedWatchLoop.defaultCheckInterval
  ) {
    loop = FeedWatchLoop(
      reloader: reloader, patterns: Array(Set(rules.intelLists.flatMap(\.filePatterns))).sorted(),
      checkInterval: checkInterval)
    self.logger = logger
  }

  func run() async throws {
    await cancelWhenGracefulShutdown { [self] in
      await loop.run { report in
        switch report {
        case .watchUnavailable(let error):
          logger.error("\(error); feeds are checked every \(loop.checkInterval) and on SIGHUP")
        case .unwatched(let directory, let reason):
          logger.warning("feed directory \(directory) is not watched (\(reason)); checked every \(loop.checkInterval)")
        case .loading(let request):
          RuleReloadService.announceReloading(cause: Self.cause(request), logger: logger)
        case .handled(let request, let outcome, let loadStarted):
          // A request cut short by shutdown before its load started has nothing to say (a monitor
          // that failed to start logged a feed change cut short although it had no feeds).
          log(request, outcome, loadStarted: loadStarted)
        }
      }
    }
  }

  /// Why a load ran, as its start and result lines say it.
  static func cause(_ request: FeedCheckRequests.Request) -> String {
    switch request {
    case .feedEvent(let paths):
      // A file name is anyone's who can write to the feed directory: escaped, as a feed's bytes are.
      return "feed event: \(paths.prefix(3).map(TerminalText.escapingControls).joined(separator: ", "))"
        + (paths.count > 3 ? ", …" : "")
    case .periodicCheck:
      return "periodic feed check"
    }
  }

  private func log(
    _ request: FeedCheckRequests.Request, _ changeOutcome: RuleReloader.FeedChangeOutcome, loadStarted: Bool
  ) {
    let cause = Self.cause(request)
    let outcome: RuleReloader.Outcome
    switch request {
    case .feedEvent:
      switch changeOutcome {
      case .feedsUnchanged(let files):
        logger.info(
          "feeds unchanged; keeping the running rules (\(counted(files, "file")) compared; \(cause))",
          metadata: ["files_compared": "\(files)"])
        return
      case .reloaded(let reloaded):
        outcome = reloaded
      case .comparisonTimedOut(let limit):
        logComparisonTimedOut(limit, cause)
        return
      case .unloadableAsBefore:
        return
      }
    case .periodicCheck:
      switch changeOutcome {
      case .feedsUnchanged(let files):
        logger.debug("periodic feed check: \(counted(files, "file")) unchanged")
        return
      case .unloadableAsBefore:
        logger.debug(
          "periodic feed check: the feeds are as they were when they last failed to load or to be compared")
        return
      case .comparisonTimedOut(let limit):
        logComparisonTimedOut(limit, cause)
        return
      case .reloaded(let reloaded):
        outcome = reloaded
      }
    }
    switch outcome {
    case .loaded(let rules):
      RuleReloadService.announceReloaded(rules, cause: cause, logger: logger)
    case .failed(let diagnostics):
      for diagnostic in diagnostics { RulesCommand.report(diagnostic, logger) }
      logger.error("the rules do not validate after a feed change (\(cause)); keeping the current ones")
    case .timedOut(let limit):
      logger.error("the rules did not load within \(limit) after a feed change; keeping the current ones")
    case .busy:
      guard loadStarted else { return }
      logger.warning("shutting down before the feed change (\(cause)) loaded; keeping the current rules")
    }
  }

  private func logComparisonTimedOut(_ limit: Duration, _ cause: String) {
    let message =
      "feeds not compared within \(limit); nothing loaded (cause: \(cause)); keeping the current rules "
      + "(SIGHUP, `systemctl reload flowsentry`, loads them without comparing)"
    logger.error("\(message)")
  }
}

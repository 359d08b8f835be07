import FlowsentryPipeline
import FlowsentryRules
import Logging
import ServiceLifecycle

/// A feed file of a typed list replaced (the operator's refresh job renames it into place) reloads
/// the rules as SIGHUP does, off the pipeline: the running set stays until the new one is ready.
/// A refresh that leaves every feed's bytes as the running set loaded them reloads nothing (a
/// reload of millions of indicators costs seconds of CPU and twice their memory). The directories
/// watched are those of the set loaded at start; what no watch can report (a feed directory made
/// or replaced later, one past the watch limit, no inotify, a change before the watch began) is
/// found by a check right after the watch starts and every `checkInterval` after it, which costs a
/// `stat` a feed file (a feed renamed over with the same bytes is read once, then known as the new
/// file). The checks follow the running set's feeds, so lists a SIGHUP adds are checked too.
struct FeedWatchService: Service {
  static let defaultCheckInterval: Duration = .seconds(300)

  let reloader: RuleReloader
  let patterns: [String]
  let checkInterval: Duration
  let logger: Logger

  init(reloader: RuleReloader, rules: RuleSet, logger: Logger, checkInterval: Duration = defaultCheckInterval) {
    self.reloader = reloader
    self.patterns = Array(Set(rules.intelLists.flatMap(\.filePatterns))).sorted()
    self.checkInterval = checkInterval
    self.logger = logger
  }

  func run() async throws {
    let requests = FeedCheckRequests()
    let (wakeUps, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    // With no feed at start there is nothing to watch, but the checks run: a SIGHUP may add lists.
    var watcher: FeedWatcher?
    do {
      if !patterns.isEmpty { watcher = try FeedWatcher(patterns: patterns) }
    } catch {
      logger.error("\(error); feeds are checked every \(checkInterval) and on SIGHUP")
    }
    for (directory, reason) in watcher?.unwatched ?? [] {
      logger.warning("feed directory \(directory) is not watched (\(reason)); checked every \(checkInterval)")
    }
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
    await cancelWhenGracefulShutdown { [self] in
      for await _ in wakeUps {
        while let request = requests.take() { await handle(request) }
      }
    }
  }

  private func handle(_ request: FeedCheckRequests.Request) async {
    let cause: String
    let outcome: RuleReloader.Outcome
    switch request {
    case .feedEvent(let paths):
      cause = "feed event: \(paths.prefix(3).joined(separator: ", "))\(paths.count > 3 ? ", …" : "")"
      switch await reloader.reloadUnlessFeedsUnchanged() {
      case .feedsUnchanged(let files):
        logger.info(
          "feeds unchanged; keeping the running rules (\(files) file\(files == 1 ? "" : "s") compared; \(cause))",
          metadata: ["files_compared": "\(files)"])
        return
      case .reloaded(let reloaded):
        outcome = reloaded
      case .unloadableAsBefore:
        return
      }
    case .periodicCheck:
      cause = "periodic feed check"
      switch await reloader.checkFeeds() {
      case .feedsUnchanged(let files):
        logger.debug("periodic feed check: \(files) file\(files == 1 ? "" : "s") unchanged")
        return
      case .unloadableAsBefore:
        logger.debug("periodic feed check: the feeds are as they were when they last failed to load")
        return
      case .reloaded(let reloaded):
        outcome = reloaded
      }
    }
    switch outcome {
    case .loaded(let rules):
      RuleReloadService.announce(rules, logger: logger)
      let indicators = rules.intelLists.reduce(0) { $0 + $1.indicators }
      logger.info("rules reloaded (\(cause)): \(rules.rules.filter(\.enabled).count) enabled, \(indicators) indicators")
    case .failed(let diagnostics):
      for diagnostic in diagnostics { logger.error("\(diagnostic)") }
      logger.error("the rules do not validate after a feed change (\(cause)); keeping the current ones")
    case .timedOut(let limit):
      logger.error("the rules did not load within \(limit) after a feed change; keeping the current ones")
    case .busy:
      logger.warning("shutting down while another reload ran; the feed change (\(cause)) was not loaded")
    }
  }
}

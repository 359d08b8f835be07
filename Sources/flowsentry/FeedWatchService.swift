import FlowsentryPipeline
import FlowsentryRules
import Logging
import ServiceLifecycle

/// A feed file of a typed list replaced (the operator's refresh job renames it into place) reloads
/// the rules as SIGHUP does, off the pipeline: the running set stays until the new one is ready.
/// A refresh that leaves every feed's bytes as the running set loaded them reloads nothing (a
/// reload of millions of indicators costs seconds of CPU and twice their memory). The directories
/// watched are those of the set loaded at start.
struct FeedWatchService: Service {
  let reloader: RuleReloader
  let patterns: [String]
  let logger: Logger

  init(reloader: RuleReloader, rules: RuleSet, logger: Logger) {
    self.reloader = reloader
    self.patterns = Array(Set(rules.intelLists.flatMap(\.filePatterns))).sorted()
    self.logger = logger
  }

  func run() async throws {
    guard !patterns.isEmpty else { return }
    let watcher: FeedWatcher
    do {
      watcher = try FeedWatcher(patterns: patterns)
    } catch {
      logger.error("\(error); feeds reload on SIGHUP only")
      return
    }
    for (directory, reason) in watcher.unwatched {
      logger.warning("feed directory \(directory) is not watched: \(reason)")
    }
    let (changes, continuation) = AsyncStream.makeStream(of: [String].self, bufferingPolicy: .bufferingNewest(1))
    watcher.start { paths in continuation.yield(paths) }
    defer { watcher.stop() }
    await cancelWhenGracefulShutdown { [self] in
      for await paths in changes { await reloadOnce(paths) }
    }
  }

  private func reloadOnce(_ paths: [String]) async {
    let cause = "feed changed: \(paths.prefix(3).joined(separator: ", "))\(paths.count > 3 ? ", …" : "")"
    let outcome: RuleReloader.Outcome
    switch await reloader.reloadUnlessFeedsUnchanged() {
    case .feedsUnchanged(let files):
      logger.info(
        "feeds unchanged; keeping the running rules (\(files) file\(files == 1 ? "" : "s") compared; \(cause))",
        metadata: ["files_compared": "\(files)"])
      return
    case .reloaded(let reloaded):
      outcome = reloaded
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

import FlowsentryCore
import FlowsentryForwarding
import FlowsentryLogging
import FlowsentryMetrics
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

// The monitor's services besides capture, each one concern. Those that finish a sink wait for
// their graceful shutdown, which the group gives them after the capture service has drained
// (services shut down in the reverse of their order in the group).

/// Returns when this service's graceful shutdown comes, or when the group is cancelled.
private func untilShutdown() async {
  do { try await gracefulShutdown() } catch {}
}

/// stdout: written on a thread of its own (a slow reader costs stdout, up to its bound, never the
/// pipeline); on shutdown it writes what it holds.
final class StandardOutputService: Service, @unchecked Sendable {
  let sink: JSONLinesEventSink
  private let counters: MonitorCounters

  init(sink: JSONLinesEventSink, counters: MonitorCounters) {
    self.sink = sink
    self.counters = counters
  }

  func run() async throws {
    await untilShutdown()
    // The capture service has returned: nothing else writes to the sink now.
    nonisolated(unsafe) let finishing = sink
    await runOffThePool { finishing.finish() }
    let written = sink.counters
    counters.stdout.withLock { $0 = written }
  }
}

/// `--record`: every event to a rotating file as well; on shutdown, what it holds is written.
final class RecorderService: Service, @unchecked Sendable {
  let recorder: RotatingFileEventSink
  private let counters: MonitorCounters

  init(recorder: RotatingFileEventSink, counters: MonitorCounters) {
    self.recorder = recorder
    self.counters = counters
  }

  func run() async throws {
    await untilShutdown()
    nonisolated(unsafe) let finishing = recorder
    await runOffThePool { finishing.flush() }
    let recorded = (recorder.counters, recorder.rotations, recorder.rotationFailures)
    counters.recorded.withLock { $0 = recorded }
  }
}

/// The forwarding outputs, each on its own thread; on shutdown each delivers what it holds within
/// its drain timeout, or keeps it in its spool.
struct ForwardingOutputsService: Service {
  let outputs: [ForwardingOutput]

  func run() async throws {
    await untilShutdown()
    await ForwardingOutput.stopAll(outputs)
  }
}

/// `/metrics`, served until the other services have stopped, so that a drain can be watched. Bound
/// by the monitor before it loads the rules and attaches (a port taken stops it first).
struct MetricsService: Service {
  let server: MetricsServer

  func run() async throws {
    await untilShutdown()
    await server.stop()
  }
}

/// `--stats-interval`: the counter table as a log record every so often.
struct StatsLoggerService: Service {
  let interval: Duration
  let counters: MonitorCounters
  let logger: Logger

  func run() async throws {
    try? await cancelWhenGracefulShutdown { [self] in
      while !Task.isCancelled {
        try await Task.sleep(for: interval)
        logger.info("counters", metadata: counters.metadata())
      }
    }
  }
}

/// SIGHUP: the rules are loaded again off the pool; a set that validates is swapped in between two
/// batches, anything else keeps the running set and says why. A SIGHUP while another load runs (a
/// feed check, the start's, a feed change) waits for it and then loads: that load may have read
/// the files before the operator's edit, and a check that found its feeds unchanged loads nothing.
struct RuleReloadService: Service {
  let reloader: RuleReloader
  /// Trapped before the monitor says it runs, so that no SIGHUP after that is missed.
  let hangups: UnixSignalsSequence
  let logger: Logger

  func run() async throws {
    await cancelWhenGracefulShutdown { [self] in
      for await _ in hangups { await reloadOnce() }
    }
  }

  private func reloadOnce() async {
    let start = LoadStartLine()
    let outcome = await reloader.reloadAfterTheRunningOne(cause: .signal) { [logger] in
      start.sayStart { Self.announceReloading(cause: "SIGHUP", logger: logger) }
    }
    // Answered before any outcome line: a start the loader thread reaches after this is not said.
    let started = start.answer()
    switch outcome {
    case .loaded(let rules):
      Self.announceReloaded(rules, cause: "SIGHUP", logger: logger)
    case .failed(let diagnostics):
      // Each at its own level: a refused set's warnings are no errors to an alert on error records.
      for diagnostic in diagnostics { RulesCommand.report(diagnostic, logger) }
      logger.error("the new rules do not validate; keeping the current ones")
    case .timedOut(let limit):
      logger.error("the rules did not load within \(limit); keeping the current ones")
    case .busy:
      // Only a caller cancelled at shutdown is answered busy (at once, its load discarded); one
      // still waiting for another load to end had started nothing.
      guard started else { return }
      logger.warning("shutting down before the reload finished; keeping the current rules")
    }
  }

  /// What a loaded set reports once, at the start and at each reload: its warnings (overrides
  /// and replacements of earlier files' lists, macros and rules among them).
  static func announce(_ rules: RuleSet, logger: Logger) {
    for warning in rules.warnings { logger.warning("\(warning)") }
    // The pattern cache pruned to the set: said when it removed something or failed to (a quiet
    // reload stays one line); a failure at warning, as the directory then grows.
    if let pruning = rules.patternCachePruning, pruning.removedFiles > 0 || !pruning.failures.isEmpty {
      if pruning.failures.isEmpty { logger.info("\(pruning)") } else { logger.warning("\(pruning)") }
    }
  }

  /// A load starting, said as it starts (not when asked for: a SIGHUP during another load waits for
  /// it), so that a start is never logged for a load that does not run, and each is followed by one
  /// outcome line: reloaded, refused, timed out, or cut short by shutdown.
  static func announceReloading(cause: String, logger: Logger) {
    logger.info("reloading rules (\(cause)); the running ones stay in use meanwhile")
  }

  /// A reloaded set: its warnings, then one line with why it was loaded, its rules and indicators,
  /// the same for a SIGHUP as for a feed change.
  static func announceReloaded(_ rules: RuleSet, cause: String, logger: Logger) {
    announce(rules, logger: logger)
    let indicators = rules.intelLists.reduce(0) { $0 + $1.indicators }
    logger.info(
      "rules reloaded (\(cause)): \(rules.rules.filter(\.enabled).count) enabled, \(counted(indicators, "indicator"))")
  }

}

func hostName() -> String {
  var buffer = [CChar](repeating: 0, count: 256)
  guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
  return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

import FlowsentryAggregate
import FlowsentryCore
import FlowsentryForwarding
import FlowsentryMetrics
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Synchronization

/// The aggregate's counter table: its input's rows, the fleet rules' and the outputs'. `/metrics`
/// reads it on the server's threads while the aggregate's loop runs the pipeline, so the rules'
/// counters are a snapshot the loop refreshes (`refresh`), at most once a second.
final class AggregateMetrics: Sendable {
  private let aggregator: Aggregator
  private let outputs: [ForwardingOutput]
  private let rules = Mutex<
    (counters: RuleEngine.Counters, perRule: [RuleEngine.RuleCounters], at: ContinuousClock.Instant?)
  >(
    (RuleEngine.Counters(), [], nil))
  let server = MetricsServer.Counters()

  init(aggregator: Aggregator, outputs: [ForwardingOutput]) {
    self.aggregator = aggregator
    self.outputs = outputs
  }

  /// Called by the pipeline's thread: a copy of the rules' counters for the next scrape.
  func refresh(_ pipeline: Pipeline, force: Bool = false) {
    let now = ContinuousClock.now
    let due = rules.withLock { force || $0.at.map { now - $0 >= .seconds(1) } ?? true }
    guard due else { return }
    let counters = pipeline.counters
    rules.withLock { $0 = (counters.rules, counters.perRule, now) }
  }

  func samples() -> [MetricSample] {
    var samples = [MetricSample.buildInfo] + aggregator.counters.samples
    let (counters, perRule, _) = rules.withLock { $0 }
    samples += counters.samples(perRule: perRule)
    for output in outputs { samples += output.counters.samples(output: output.configuration.name) }
    samples += server.samples
    return samples + MetricsExporter.processSamples()
  }

  /// Binds `/metrics` from the aggregate's own (non-pool) thread, which waits for the bind.
  func serve(host: String, port: Int) throws -> MetricsServer {
    try Self.waiting { [self] in
      try await MetricsServer(
        host: host, port: port, exporter: MetricsExporter { [self] in samples() }, counters: server)
    }
  }

  static func stop(_ server: MetricsServer) {
    _ = try? waiting { await server.stop() }
  }

  private static func waiting<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) throws -> Value {
    let outcome = Mutex<Result<Value, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
      let result: Result<Value, any Error>
      do { result = .success(try await body()) } catch { result = .failure(error) }
      outcome.withLock { $0 = result }
      done.signal()
    }
    done.wait()
    return try outcome.withLock { $0! }.get()
  }
}

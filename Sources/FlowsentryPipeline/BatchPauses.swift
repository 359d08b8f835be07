import FlowsentryCore
import Synchronization

/// The longest time the pipeline spent on one batch since the start, a reloaded rule set's swap (and
/// the old set's release) included: while it lasts the capture's ring buffer is not drained, so this
/// is the pause a reload, or anything else on the pipeline's task, puts between two batches. Written
/// by the pipeline's task, read by `/metrics` and the stats log.
public final class BatchPauses: Sendable {
  private let longest = Atomic<Int64>(0)

  public init() {}

  /// Nanoseconds, of the longest batch recorded.
  public var longestNanoseconds: Int64 { longest.load(ordering: .relaxed) }

  /// Records a batch that took `nanoseconds` (a monotonic clock's difference; a negative one counts as 0).
  public func record(nanoseconds: Int64) {
    var current = longest.load(ordering: .relaxed)
    while nanoseconds > current {
      let (exchanged, original) = longest.compareExchange(
        expected: current, desired: nanoseconds, ordering: .relaxed)
      if exchanged { return }
      current = original
    }
  }

  public var samples: [MetricSample] {
    [
      MetricSample(
        "flowsentry_pipeline_batch_max_seconds", .gauge, Double(longestNanoseconds) / 1e9,
        help:
          "Longest time the pipeline spent on one batch since the start (a reloaded rule set's swap included); the capture is not drained meanwhile."
      )
    ]
  }
}

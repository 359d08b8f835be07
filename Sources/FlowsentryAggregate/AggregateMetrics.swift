import FlowsentryCore

extension Aggregator.Counters {
  /// The aggregate's own rows of its counter table (`aggregate --metrics-address`, the log lines):
  /// what it fetched and what became of each message, so that a partition that stalls or a fleet
  /// whose clocks drift shows before its alerts go missing.
  public var samples: [MetricSample] {
    let notEvaluatedHelp =
      "Messages not evaluated, by reason: no rule reads their kind, not an event of the schema, older than the "
      + "windows allow, dated past the clock plus future_skew_ms (each acknowledged at once), or delivered again "
      + "while this instance holds them (held on)."
    return [
      .counter(
        "flowsentry_aggregate_fetched_total", fetched, help: "Messages fetched from the owned partitions' consumers."),
      .counter(
        "flowsentry_aggregate_redelivered_total", redelivered,
        help: "Deliveries seen more than once (after a crash, an outage, or an ack wait that ran out)."),
      .counter("flowsentry_aggregate_evaluated_total", evaluated, help: "Events run through the fleet rules."),
      .counter("flowsentry_aggregate_not_evaluated_total", skipped, [("reason", "kind")], help: notEvaluatedHelp),
      .counter(
        "flowsentry_aggregate_not_evaluated_total", malformed, [("reason", "malformed")], help: notEvaluatedHelp),
      .counter("flowsentry_aggregate_not_evaluated_total", late, [("reason", "late")], help: notEvaluatedHelp),
      .counter("flowsentry_aggregate_not_evaluated_total", future, [("reason", "future")], help: notEvaluatedHelp),
      .counter("flowsentry_aggregate_not_evaluated_total", repeated, [("reason", "held")], help: notEvaluatedHelp),
      .counter(
        "flowsentry_aggregate_acknowledged_total", acknowledged,
        help: "Messages acknowledged once they left every window they could feed (or at once, when not evaluated)."),
      .counter(
        "flowsentry_aggregate_forced_acknowledgements_total", forced,
        help:
          "Held messages acknowledged early because the hold was full (max_ack_pending); their events stay in the windows."
      ),
      .counter(
        "flowsentry_aggregate_in_progress_total", extended,
        help: "In-progress signals sent for held messages, so that their ack wait does not run out."),
      .counter(
        "flowsentry_aggregate_errors_total", errors,
        help: "Fetches, acknowledgements and in-progress signals that failed (an outage counts each retry)."),
      .gauge(
        "flowsentry_aggregate_held", held,
        help: "Messages held unacknowledged while their events can still feed a window."),
    ]
  }
}

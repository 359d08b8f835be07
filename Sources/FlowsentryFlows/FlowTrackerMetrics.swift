import FlowsentryCore

extension FlowTracker.Counters {
  /// The flow tracker's rows of the counter table.
  public var samples: [MetricSample] {
    let events = "Events made, by name."
    let ignored = "Observations that changed no flow, by reason."
    return [
      .counter("flowsentry_events_total", beginEvents, [("event", "net_flow_tcp_begin")], help: events),
      .counter("flowsentry_events_total", endEvents, [("event", "net_flow_tcp_end")], help: events),
      .counter("flowsentry_events_total", updateEvents, [("event", "net_flow_tcp_update")], help: events),
      .counter(
        "flowsentry_flows_preexisting_total", preexistingFlows,
        help: "Flows older than the sensor found open by a socket walk (begins with preexisting: true)."),
      .counter(
        "flowsentry_flow_counters_went_down_total", countersWentDown,
        help: "Socket totals below the last reported ones (tuple reused, or a 32-bit counter wrapped)."),
      .counter("flowsentry_flow_observations_total", observations, help: "Socket state changes and segments seen."),
      .gauge("flowsentry_flows_open", openFlows, help: "Open flows tracked."),
      .counter(
        "flowsentry_flows_evicted_total", evictedOpenFlows,
        help: "Open flows forgotten at the max_flows bound (their end has no duration)."),
      .counter(
        "flowsentry_flow_ends_without_begin_total", endsWithoutBegin,
        help: "Ends of flows whose begin was not seen (older than the sensor, evicted, refused)."),
      .counter(
        "flowsentry_flow_observations_ignored_total", repeatedHandshakes, [("reason", "repeated_handshake")],
        help: ignored),
      .counter(
        "flowsentry_flow_observations_ignored_total", repeatedTerminations, [("reason", "repeated_termination")],
        help: ignored),
      .counter(
        "flowsentry_flow_observations_ignored_total", synAcksWithoutSYN, [("reason", "syn_ack_without_syn")],
        help: ignored),
      .counter(
        "flowsentry_flow_observations_ignored_total", outOfWindowTerminations, [("reason", "out_of_window")],
        help: ignored),
      .counter(
        "flowsentry_flow_observations_ignored_total", walkedUnknownFlows, [("reason", "walked_unknown_flow")],
        help: ignored),
    ]
  }
}

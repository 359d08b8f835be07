import FlowsentryCapture
import FlowsentryDNS
import FlowsentryFlows
import FlowsentryForwarding
import FlowsentryMetrics
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules

/// The monitor's counters as metric samples: what `/metrics` serves and `status` summarises.
struct MonitorMetrics {
  var pipeline: Pipeline.Counters?
  var capture: CaptureSession.Statistics
  var stdout: JSONLinesEventSink.Counters
  var alertsByRule: [String: Int]
  var outputs: [ForwardingOutput]

  func samples() -> [MetricSample] {
    let flows = pipeline?.flows ?? FlowTracker.Counters()
    let dns = pipeline?.dns ?? DNSEnricher.Counters()
    let rules = pipeline?.rules ?? RuleEngine.Counters()
    let kernel = capture.kernel
    func counter(_ name: String, _ value: UInt64, _ labels: [(String, String)] = [], _ help: String) -> MetricSample {
      MetricSample(name, .counter, Double(value), labels: labels, help: help)
    }
    func gauge(_ name: String, _ value: Int, _ labels: [(String, String)] = [], _ help: String) -> MetricSample {
      MetricSample(name, .gauge, Double(value), labels: labels, help: help)
    }
    var samples: [MetricSample] = [
      counter("flowsentry_events_total", flows.beginEvents, [("event", "net_flow_tcp_begin")], "Events made, by name."),
      counter("flowsentry_events_total", flows.endEvents, [("event", "net_flow_tcp_end")], "Events made, by name."),
      counter("flowsentry_events_total", dns.served, [("event", "net_packet_dns")], "Events made, by name."),
      counter("flowsentry_records_total", capture.records, [], "Records read from the kernel's ring buffer."),
      counter("flowsentry_drops_total", capture.kernelDrops, [("where", "ring_buffer")], "Records dropped, by where."),
      counter("flowsentry_drops_total", capture.queueDrops, [("where", "queue")], "Records dropped, by where."),
      counter(
        "flowsentry_malformed_records_total", capture.malformedRecords, [],
        "Ring-buffer records of an unknown kind or size."),
      counter(
        "flowsentry_half_open_attempts_total", capture.halfOpenAttempts, [], "Incoming handshakes never completed."),
      counter(
        "flowsentry_kernel_ignored_total", kernel.unexpectedSYNACKs, [("reason", "unexpected_syn_ack")],
        "Packets the kernel side ignored, by reason."),
      counter(
        "flowsentry_kernel_ignored_total", kernel.untrackedOutOfSequence, [("reason", "fin_rst_out_of_sequence")],
        "Packets the kernel side ignored, by reason."),
      counter(
        "flowsentry_kernel_ignored_total", kernel.ipv6Unparsed, [("reason", "ipv6_unparsed")],
        "Packets the kernel side ignored, by reason."),
      gauge("flowsentry_flows_open", flows.openFlows, [], "Open flows tracked."),
      counter(
        "flowsentry_flows_evicted_total", flows.evictedOpenFlows, [], "Open flows forgotten at the --max-flows bound."),
      gauge("flowsentry_dns_cache_entries", dns.cache.entries, [], "Addresses the DNS cache names."),
      counter(
        "flowsentry_dns_cache_lookups_total", dns.cache.hits, [("result", "hit")], "DNS cache lookups, by result."),
      counter(
        "flowsentry_dns_cache_lookups_total", dns.cache.misses, [("result", "miss")], "DNS cache lookups, by result."),
      counter(
        "flowsentry_dns_cache_evictions_total", dns.cache.evictions, [], "DNS cache entries evicted at the bound."),
      counter(
        "flowsentry_dns_answers_ignored_total", dns.unsolicited, [("reason", "unsolicited")],
        "DNS answers ignored, by reason."),
      counter(
        "flowsentry_dns_answers_ignored_total", dns.late, [("reason", "late")], "DNS answers ignored, by reason."),
      counter("flowsentry_rule_matches_total", rules.matches, [], "Events that matched a rule's condition."),
      counter("flowsentry_alerts_suppressed_total", rules.suppressed, [], "Alerts folded by suppression."),
      counter(
        "flowsentry_threshold_group_evictions_total", rules.groupEvictions, [],
        "Threshold groups forgotten at the bound."),
      counter("flowsentry_stdout_lines_total", stdout.eventsWritten, [("kind", "event")], "Lines written to stdout."),
      counter("flowsentry_stdout_lines_total", stdout.alertsWritten, [("kind", "alert")], "Lines written to stdout."),
      counter(
        "flowsentry_stdout_lines_lost_total", stdout.eventsLost + stdout.alertsLost, [],
        "Lines lost to failed writes or a slow reader."),
    ]
    for (rule, count) in alertsByRule.sorted(by: { $0.key < $1.key }) {
      samples.append(counter("flowsentry_alerts_total", UInt64(count), [("rule", rule)], "Alerts raised, by rule."))
    }
    for output in outputs {
      let counters = output.counters
      let name = [("output", output.configuration.name)]
      samples += [
        counter("flowsentry_output_delivered_total", counters.delivered, name, "Records the receiver accepted."),
        gauge("flowsentry_output_queue_depth", counters.queued, name, "Messages waiting in the output's memory queue."),
        gauge("flowsentry_output_spool_bytes", Int(counters.spoolBytes), name, "Bytes in the output's spool."),
        gauge("flowsentry_output_spool_records", counters.spoolPending, name, "Records spooled and not delivered."),
        counter("flowsentry_output_retries_total", counters.retries, name, "Failed connections and broken ones."),
        counter("flowsentry_output_resent_total", counters.resent, name, "Records sent again: possible duplicates."),
        counter("flowsentry_output_dead_letters_total", counters.deadLettered, name, "Records refused for good."),
        counter(
          "flowsentry_output_dropped_total", counters.queueDropped, name + [("reason", "queue_full")],
          "Records dropped, by reason."),
        counter(
          "flowsentry_output_dropped_total", counters.spool.droppedFull.reduce(0, +), name + [("reason", "spool_full")],
          "Records dropped, by reason."),
        counter(
          "flowsentry_output_dropped_total", counters.spool.failedAppends, name + [("reason", "failed_append")],
          "Records dropped, by reason."),
      ]
    }
    return samples + MetricsExporter.processSamples()
  }
}

import FlowsentryCore
import FlowsentrySpool

extension ForwardingOutput.Counters {
  /// One forwarding output's rows of the counter table.
  public func samples(output name: String) -> [MetricSample] {
    let output = [("output", name)]
    let dropped = "Records dropped, by output and reason."
    var samples: [MetricSample] = [
      .counter("flowsentry_output_delivered_total", delivered, output, help: "Records the receiver accepted."),
      .gauge("flowsentry_output_queue_depth", queued, output, help: "Messages waiting in the output's memory queue."),
      .gauge("flowsentry_output_spool_records", spoolPending, output, help: "Records spooled and not delivered."),
      .gauge("flowsentry_output_spool_bytes", Int(spoolBytes), output, help: "Bytes in the output's spool."),
      .counter("flowsentry_output_retries_total", retries, output, help: "Failed connections and broken ones."),
      .counter("flowsentry_output_resent_total", resent, output, help: "Records sent again: possible duplicates."),
      .counter(
        "flowsentry_output_dead_letters_total", deadLettered, output,
        help: "Records refused for good (written to dead-letter.jsonl)."),
      .counter(
        "flowsentry_output_configuration_errors_total", configurationErrors, output,
        help: "Times delivery stopped on a configuration error (an HTTP redirect): records kept, not retried."),
      .counter(
        "flowsentry_output_oversized_responses_total", oversizedResponses, output,
        help: "HTTP answers whose body passed the output's cap: not read further, the batch failed."),
      .counter(
        "flowsentry_output_truncated_total", truncated, output, help: "UDP messages cut to the datagram limit."),
      .counter("flowsentry_output_dropped_total", queueDropped, output + [("reason", "queue_full")], help: dropped),
    ]
    for (rank, count) in spool.droppedFull.enumerated() {
      samples.append(
        .counter(
          "flowsentry_output_dropped_total", count,
          output + [
            ("reason", "spool_full"),
            ("severity", OutputConfiguration.rankNames[min(rank, OutputConfiguration.rankNames.count - 1)]),
          ], help: dropped))
    }
    samples += [
      .counter(
        "flowsentry_output_dropped_total", spool.failedAppends, output + [("reason", "failed_append")], help: dropped),
      .counter(
        "flowsentry_output_spool_damaged_records_total", spool.damagedRecords, output,
        help:
          "Stretches of damaged spool found at start, each at least one lost record; the intact records around them are kept."
      ),
      .counter(
        "flowsentry_output_spool_damaged_bytes_total", spool.damagedBytes, output,
        help: "Spooled bytes found damaged at start (skipped, or a torn tail cut off)."),
      .counter(
        "flowsentry_output_spool_skipped_files_total", spool.skippedFiles, output,
        help: "Files named like spool segments that are no regular file (a directory, FIFO or link); left alone."),
      .counter(
        "flowsentry_output_spool_committed_fallbacks_total", spool.committedFallbacks, output,
        help: "Starts whose committed file was damaged, out of range or past the end: all spooled records resent."),
      .counter(
        "flowsentry_output_spool_fallback_resends_total", spool.fallbackResends, output,
        help: "Records sent again because the committed file could not be trusted (possible duplicates)."),
      .counter(
        "flowsentry_output_spool_failed_rewrites_total", spool.failedRewrites, output,
        help: "Spool segment rewrites (making room) that failed: full disk, read-only, I/O error."),
      .counter(
        "flowsentry_output_spool_file_errors_total", spool.failedFileOperations, output,
        help: "Spool fsync, close, rename, truncate and unlink calls that failed."),
      .histogram(
        "flowsentry_output_delivery_latency_seconds", deliveryLatency, output,
        help: "From the hand-over to the output to the receiver's acknowledgment."),
    ]
    if let nats { samples += nats.samples(output: name) }
    return samples
  }
}

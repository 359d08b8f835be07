import FlowsentryCore

extension CaptureSession.Statistics {
  /// The source's rows of the counter table: the ring buffer, the queue to the pipeline, and why
  /// the eBPF programs skipped packets.
  public var samples: [MetricSample] {
    let drops = "Records dropped, by where."
    let endsLost = "Of the dropped records, flow ends, by where (an end goes out once, at the socket's close)."
    let ignored = "Packets the kernel side ignored, by reason."
    func kernelIgnored(_ value: UInt64, _ reason: String) -> MetricSample {
      .counter("flowsentry_kernel_ignored_total", value, [("reason", reason)], help: ignored)
    }
    return [
      .counter("flowsentry_records_total", records, help: "Records read from the kernel's ring buffer."),
      .counter("flowsentry_drops_total", kernelDrops, [("where", "ring_buffer")], help: drops),
      .counter("flowsentry_drops_total", queueDrops, [("where", "queue")], help: drops),
      .counter("flowsentry_ends_dropped_total", kernel.endsLost, [("where", "ring_buffer")], help: endsLost),
      .counter("flowsentry_ends_dropped_total", queueDroppedEnds, [("where", "queue")], help: endsLost),
      .counter(
        "flowsentry_records_after_consumer_end_total", recordsAfterConsumerEnd,
        help: "Records read after the stream's consumer had ended, which no one could take."),
      .counter(
        "flowsentry_malformed_records_total", malformedRecords, help: "Ring-buffer records of an unknown kind or size."),
      .counter("flowsentry_incoming_syns_total", kernel.incomingSYNs, help: "SYNs that reached a local listener."),
      .counter(
        "flowsentry_flows_owner_unknown_total", kernel.ownerUnknown,
        help: "Handshakes completed with no connect(2)/listen(2) on record: the process is unknown."),
      .counter(
        "flowsentry_half_open_attempts_total", halfOpenAttempts,
        help: "Incoming handshakes never completed (reported per remote)."),
      .counter(
        "flowsentry_half_open_scans_failed_total", failedHalfOpenScans,
        help: "Walks of the kernel's half-open map that failed (its remotes wait for the next walk)."),
      .counter(
        "flowsentry_dns_messages_cut_total", dnsMessagesCut,
        help: "DNS messages longer than the kernel copies, read in part."),
      .counter("flowsentry_socket_walks_total", socketWalks.walks, help: "Walks of the cgroup's open TCP sockets."),
      .counter(
        "flowsentry_socket_walk_sockets_total", socketWalks.sockets,
        help: "Open sockets of the cgroup the walks reported."),
      .counter(
        "flowsentry_socket_walk_namespaces_failed_total", socketWalks.failedNamespaces,
        help: "Network namespaces whose walk failed (walked again next time)."),
      .counter(
        "flowsentry_socket_walk_searches_truncated_total", socketWalks.truncatedNamespaceSearches,
        help: "Namespace searches cut at a bound (cgroups, processes or namespaces)."),
      MetricSample(
        "flowsentry_socket_walk_last_cpu_seconds", .gauge, Double(socketWalks.lastCPUNanoseconds) / 1e9,
        help: "CPU time of the last socket walk (kernel iterator, read and decoding)."),
      MetricSample(
        "flowsentry_socket_walk_last_system_cpu_seconds", .gauge, Double(socketWalks.lastSystemNanoseconds) / 1e9,
        help: "Of the last socket walk's CPU time, the part in the kernel."),
      .counter(
        "flowsentry_socket_walk_follow_failed_total", kernel.walkFollowFailures,
        help: "Sockets older than the sensor whose callback flags could not be set: ends from packets."),
      kernelIgnored(kernel.unexpectedSYNACKs, "unexpected_syn_ack"),
      kernelIgnored(kernel.untrackedOutOfSequence, "fin_rst_out_of_sequence"),
      kernelIgnored(kernel.noSocket, "fin_rst_without_socket"),
      kernelIgnored(kernel.shortPackets, "short_packet"),
      kernelIgnored(kernel.ipv4Fragments, "ipv4_fragment"),
      kernelIgnored(kernel.ipv6Unparsed, "ipv6_unparsed"),
      kernelIgnored(kernel.notIP, "not_ip"),
    ]
  }
}

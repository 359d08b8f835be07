import FlowsentryCore

extension DNSEnricher.Counters {
  /// The DNS stage's rows of the counter table (the enricher's and its cache's).
  public var samples: [MetricSample] {
    let ignored = "DNS answers ignored, by reason."
    let lookups = "DNS cache lookups, by result."
    return [
      // A DNS event is an accepted answer, or a question given up on unanswered.
      .counter(
        "flowsentry_events_total", answered &+ questionsUnanswered, [("event", "net_packet_dns")],
        help: "Events made, by name."),
      .counter("flowsentry_dns_messages_total", messages, help: "DNS messages read (questions and answers)."),
      .counter("flowsentry_dns_malformed_total", malformed, help: "DNS messages that did not parse."),
      .counter("flowsentry_dns_incomplete_total", incomplete, help: "DNS messages cut short (by capture or TCP)."),
      .counter("flowsentry_dns_questions_total", questions, help: "Questions asked by watched local sockets."),
      .counter("flowsentry_dns_answers_accepted_total", answered, help: "Answers that matched a pending question."),
      .counter("flowsentry_dns_answers_ignored_total", unsolicited, [("reason", "unsolicited")], help: ignored),
      .counter("flowsentry_dns_answers_ignored_total", late, [("reason", "late")], help: ignored),
      .gauge("flowsentry_dns_questions_pending", questionsPending, help: "Questions waiting for their answer."),
      .counter(
        "flowsentry_dns_questions_evicted_total", questionsEvicted,
        help:
          "Questions given up on before their timeout at the pending_questions bound, each reported at once as unanswered."
      ),
      .counter(
        "flowsentry_dns_questions_unanswered_total", questionsUnanswered,
        help:
          "Questions no answer came to within question_timeout (or before a replay's end or the monitor's stop), each reported by an event (answered: false)."
      ),
      .counter(
        "flowsentry_dns_questions_answered_on_retry_total", questionsAnsweredOnRetry,
        help: "Questions no answer came to whose client had a retry of them answered: not reported."),
      .counter(
        "flowsentry_dns_messages_served_total", served,
        help: "Questions that reached, and answers that left, a DNS server on this host (its clients' lookups)."),
      .gauge("flowsentry_dns_cache_entries", cache.entries, help: "Addresses the DNS cache names."),
      .counter(
        "flowsentry_dns_cache_responses_total", cache.responses,
        help: "Accepted answers that named addresses (NOERROR with records)."),
      .counter(
        "flowsentry_dns_cache_addresses_inserted_total", cache.addressesInserted,
        help: "Addresses named by accepted answers."),
      .counter("flowsentry_dns_cache_lookups_total", cache.hits, [("result", "hit")], help: lookups),
      .counter("flowsentry_dns_cache_lookups_total", cache.misses, [("result", "miss")], help: lookups),
      .counter("flowsentry_dns_cache_expired_total", cache.expired, help: "DNS cache names past their TTL."),
      .counter(
        "flowsentry_dns_cache_evictions_total", cache.evictions, help: "DNS cache entries evicted at the bound."),
    ]
  }
}

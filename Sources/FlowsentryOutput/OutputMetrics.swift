import FlowsentryCore

extension JSONLinesEventSink.Counters {
  /// A JSON-lines destination's rows of the counter table; `destination` names it (`stdout`, or
  /// `record` for `--record`).
  public func samples(destination: String) -> [MetricSample] {
    let labels = [("destination", destination)]
    let written = "JSON lines written, by destination and kind."
    let lost = "JSON lines lost to failed writes or a slow reader, by destination and kind."
    return [
      .counter("flowsentry_lines_written_total", eventsWritten, labels + [("kind", "event")], help: written),
      .counter("flowsentry_lines_written_total", alertsWritten, labels + [("kind", "alert")], help: written),
      .counter("flowsentry_lines_lost_total", eventsLost, labels + [("kind", "event")], help: lost),
      .counter("flowsentry_lines_lost_total", alertsLost, labels + [("kind", "alert")], help: lost),
      .counter(
        "flowsentry_lines_dropped_for_slow_reader_total", droppedForSlowReader, labels,
        help: "Of the lost lines, those dropped because the reader fell 64 MiB behind."),
      .counter(
        "flowsentry_failed_writes_total", failedWrites, labels, help: "write(2) calls that failed or fell short."),
      .counter("flowsentry_bytes_written_total", bytesWritten, labels, help: "Bytes written, by destination."),
    ]
  }
}

import FlowsentryCore

/// The volume fields of TCP end events (`FlowEvent.volume`), as integers: missing, and so every
/// comparison on them false, on events without a volume. Counters above Int64's range saturate.
enum VolumeFields {
  static let all: [Field] = [
    field("bytes_sent", "payload bytes the local socket sent (end events)") { $0.bytesSent },
    field("bytes_received", "payload bytes the local socket received (end events)") { $0.bytesReceived },
    field("packets_sent", "segments the local socket sent (end events)") { $0.packetsSent },
    field("packets_received", "segments the local socket received (end events)") { $0.packetsReceived },
    field("retransmits", "segments the local socket retransmitted (end events)") { $0.retransmits },
    field("rtt_us", "smoothed round-trip time in microseconds (end events)") { $0.rttMicroseconds },
  ]

  /// What an update or an end adds since the flow's previous report (`FlowEvent.volumeDelta`), so
  /// that a `sum` over a flow's updates and its end counts each byte once. An end with no delta (no
  /// update came before it, a replayed capture) adds its whole volume.
  static let deltas: [Field] = [
    delta("bytes_sent_delta", "payload bytes sent since the flow's previous report (update and end events)") {
      $0.bytesSent
    },
    delta("bytes_received_delta", "payload bytes received since the previous report (update and end events)") {
      $0.bytesReceived
    },
    delta("packets_sent_delta", "segments sent since the previous report (update and end events)") {
      $0.packetsSent
    },
    delta("packets_received_delta", "segments received since the previous report (update and end events)") {
      $0.packetsReceived
    },
    delta("retransmits_delta", "retransmissions since the previous report (update and end events)") {
      $0.retransmits
    },
  ]

  static let names: Set<String> = Set(all.map(\.name))
  static let deltaNames: Set<String> = Set(deltas.map(\.name))

  private static func field(_ name: String, _ summary: String, _ read: @escaping @Sendable (FlowVolume) -> UInt64)
    -> Field
  {
    Field(
      name: name, type: .integer, accessor: .integer { $0.volume.map { Int64(clamping: read($0)) } }, summary: summary,
      range: 0...Int64.max)
  }

  private static func delta(_ name: String, _ summary: String, _ read: @escaping @Sendable (FlowVolume) -> UInt64)
    -> Field
  {
    Field(
      name: name, type: .integer, accessor: .integer { $0.volumeDelta.map { Int64(clamping: read($0)) } },
      summary: summary, range: 0...Int64.max)
  }
}

/// Whole numbers in conditions and thresholds: digits, optionally with a binary size unit
/// (`KiB`, `MiB`, `GiB`, `TiB`, written after the number with or without a space). A number past
/// Int64's range is nil, never wrapped, so the caller reports it where it is written.
enum IntegerLiteral {
  static let units: [(suffix: String, scale: Int64)] = [
    ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
  ]

  static func isUnit(_ word: String) -> Bool { units.contains { $0.suffix == word } }

  static func parse(_ text: String) -> Int64? {
    for (suffix, scale) in units where text.hasSuffix(suffix) {
      let digits = text.dropLast(suffix.count).trimmingSuffixSpaces()
      guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), let value = Int64(digits) else { return nil }
      let (product, overflow) = value.multipliedReportingOverflow(by: scale)
      return overflow ? nil : product
    }
    return Int64(text)
  }
}

extension Substring {
  fileprivate func trimmingSuffixSpaces() -> Substring {
    var text = self
    while text.last == " " { text.removeLast() }
    return text
  }
}

extension Character {
  fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

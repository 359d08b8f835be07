/// Where each record (an indicator in load order) came from: its line, 4 bytes a record, and its
/// origin, stored as runs because consecutive records nearly always share a file and source.
struct OriginTable: Sendable {
  private(set) var origins: [IndicatorOrigin] = []
  private var lines: [UInt32] = []
  private var runStarts: [UInt32] = []
  private var runOrigins: [UInt32] = []

  /// Bytes of the origins' texts stored apart from their `String`s (longer than a small string).
  private var originTextBytes = 0

  var count: Int { lines.count }
  var memoryBytes: Int {
    lines.count * 4 + runStarts.capacity * 4 + runOrigins.capacity * 4
      + origins.capacity * MemoryLayout<IndicatorOrigin>.stride + originTextBytes
  }

  /// A new origin's number; the builder interns, so each distinct origin is added once.
  mutating func addOrigin(_ origin: IndicatorOrigin) -> UInt32 {
    origins.append(origin)
    // A string of more than 15 UTF-8 bytes is a heap object: its bytes and a 32-byte header.
    for text in [origin.file, origin.feedSource ?? ""] where text.utf8.count > 15 {
      originTextBytes += text.utf8.count + 32
    }
    return UInt32(origins.count - 1)
  }

  /// Records one indicator; `line` is saturated at `UInt32.max`.
  mutating func append(line: Int, origin: UInt32) -> UInt32 {
    let record = UInt32(lines.count)
    if runOrigins.last != origin {
      runStarts.append(record)
      runOrigins.append(origin)
    }
    lines.append(UInt32(clamping: line))
    return record
  }

  func origin(of record: UInt32) -> (IndicatorOrigin, line: Int) {
    // The last run starting at or before the record.
    var low = 0
    var high = runStarts.count
    while low < high {
      let middle = (low + high) / 2
      if runStarts[middle] <= record { low = middle + 1 } else { high = middle }
    }
    return (origins[Int(runOrigins[low - 1])], Int(lines[Int(record)]))
  }

  var reservedRecords: Int { lines.capacity }

  mutating func reserveCapacity(records: Int) { lines.reserveCapacity(lines.count + records) }

  mutating func shrinkToFit() {
    lines = ByteTable.fitted(lines)
    runStarts = ByteTable.exactCopy(runStarts)
    runOrigins = ByteTable.exactCopy(runOrigins)
  }
}

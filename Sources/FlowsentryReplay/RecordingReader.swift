import FlowsentryCore
import FlowsentryOutput

/// Reads a recording's events (`monitor --record`) line by line, on whichever thread calls it.
enum RecordingReader {
  /// What reading found besides the events it delivered.
  struct Result: Sendable {
    var recorded: UInt64 = 0
    /// `recorded` by kind, in `EventName.allCases` order.
    var byKind = [UInt64](repeating: 0, count: EventName.allCases.count)
    var malformed: UInt64 = 0
    /// Where the first line that is not an event is, and why.
    var firstMalformed: (line: Int, column: Int, reason: String)?
    /// Lines of the schema that are no event to re-run, by reason, and where the first event of a
    /// name this version does not know is.
    var alertLines: UInt64 = 0
    var unknownEventLines: UInt64 = 0
    var firstUnknownEvent: (line: Int, name: String)?
    /// The latest event time so far, this file's and the files' before it (`read`'s `after`).
    var latestTime = Int64.min
    /// Events earlier than `latestTime` by more than `backwardsTolerance`, and the first of them:
    /// its line and by how much.
    var backwardsEvents: UInt64 = 0
    var firstBackwards: (line: Int, nanoseconds: Int64)?
    var lastLine = 0
    var bytesRead = 0
    /// The file could not be opened: nothing was read.
    var openFailure: String?
    /// The read that ended the lines early.
    var readFailure: String?

    mutating func malformed(at line: Int, column: Int, _ reason: String) {
      malformed += 1
      if firstMalformed == nil { firstMalformed = (line, column, reason) }
    }
  }

  /// How far an event may be earlier than one before it without time running backwards. The
  /// monitor writes events in its pipeline's order, which is time order but for two cases: a DNS
  /// question reported unanswered is dated at its timeout and written once a later record passes
  /// that by the matcher's allowance for late records (QuestionMatcher.recordLateness, 2 s), and
  /// records from other CPUs may come that late too. Five seconds leaves room for both and is far
  /// less than files of a rotation set are apart.
  static let backwardsTolerance: Int64 = 5_000_000_000

  /// A power of two: lines between two `tick`s.
  static let tickLines = 4096

  /// Hands `deliver` every event of the recording at `path`, in order; a line that is not an event
  /// is counted and the first one kept with its line and column. `after` is the latest event time
  /// of the files read before this one in the same run.
  /// `tick` is handed the bytes of the lines read so far and the events delivered every
  /// `tickLines` lines, for progress: often enough to report every few seconds, rarely enough that
  /// what it does (a clock read) costs nothing per line.
  static func read(
    _ path: String, maximumLineBytes: Int, after latest: Int64 = .min,
    tick: (_ bytesRead: Int, _ events: UInt64) -> Void = { _, _ in }, _ deliver: (consuming SensorEvent) -> Void
  ) -> Result {
    var result = Result()
    result.latestTime = latest
    var file: BoundedLineFile
    do {
      file = try BoundedLineFile(path: path)
    } catch {
      result.openFailure = error.reason
      return result
    }
    var decoder = EventJSONReader.Decoder()
    var consumed = 0
    let readError = file.forEachLine(maximumLineLength: maximumLineBytes) { line in
      switch line {
      case .tooLong(_, let number):
        result.lastLine = number
        // Skipped unread: at least this long.
        consumed &+= maximumLineBytes
        result.malformed(at: number, column: 1, "a line over the \(maximumLineBytes) bytes read")
      case .text(var bytes, let number):
        result.lastLine = number
        consumed &+= bytes.count &+ 1
        if number & (tickLines - 1) == 0 { tick(consumed, result.recorded) }
        // A byte order mark some tools write first (the monitor never does) is not part of the JSON;
        // a column on that line still counts its three bytes, as an editor shows them.
        var columnOffset = 0
        if number == 1, bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
          bytes = UnsafeRawBufferPointer(rebasing: bytes[3...])
          columnOffset = 3
        }
        guard !isBlank(bytes) else { return }
        let delivery = decoder.read(bytes) { event in
          result.recorded += 1
          result.byKind[slot(event.name)] &+= 1
          // Two comparisons an event; times are in 0...2^62, so the difference cannot overflow.
          let time = event.timestamp
          if time > result.latestTime {
            result.latestTime = time
          } else if result.latestTime - time > backwardsTolerance {
            result.backwardsEvents += 1
            if result.firstBackwards == nil { result.firstBackwards = (number, result.latestTime - time) }
          }
          deliver(event)
        }
        switch delivery {
        case .delivered:
          break
        case .skipped(.alert):
          result.alertLines += 1
        case .skipped(.unknownEvent):
          result.unknownEventLines += 1
          if result.firstUnknownEvent == nil { result.firstUnknownEvent = (number, decoder.eventName ?? "") }
        case .malformed(let reason, let column):
          result.malformed(at: number, column: column + columnOffset, reason)
        }
      }
    }
    result.bytesRead = file.bytesRead
    result.readFailure = readError?.reason
    return result
  }

  /// `name`'s index in `EventName.allCases`, without searching it.
  private static func slot(_ name: EventName) -> Int {
    switch name {
    case .netFlowTCPBegin: 0
    case .netFlowTCPEnd: 1
    case .netPacketDNS: 2
    case .netFlowTCPHalfOpen: 3
    case .netFlowTCPUpdate: 4
    }
  }

  /// A line of JSON whitespace only (a trailing newline, a blank line) is no line at all.
  private static func isBlank(_ bytes: UnsafeRawBufferPointer) -> Bool {
    bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0B || $0 == 0x0C }
  }
}

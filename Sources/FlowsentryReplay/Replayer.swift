import FlowsentryCore
import FlowsentryOutput
import FlowsentryPackets
import FlowsentryPipeline

#if canImport(Glibc)
  import Glibc
#endif

/// Reads capture files through the decoder and the packet observer into a `Pipeline`: the same
/// tracking, DNS and rules as `monitor`, in packet time. Give it a pipeline made with
/// `Configuration.validatingSegments`: without sockets, the tracker must check what it sees.
public final class Replayer {
  /// What a replay read and what it could not use.
  public struct Summary: Sendable {
    public var files = 0
    public var packets: UInt64 = 0
    public var bytes: Int64 = 0
    public var decoded: UInt64 = 0
    public var skipped: [DecodeSkip: UInt64] = [:]
    /// The first packet skipped for each reason, per file: where to look in Wireshark.
    public var firstSkipped: [String] = []
    /// Files that could not be opened or read to their end.
    public var fileErrors: [String] = []
    /// Of those, files that could not be opened at all.
    public var unreadableFiles = 0
    /// Frames whose recorded time was outside `CaptureFile.timestampRange`, replayed at its nearer end.
    public var clampedTimestamps: UInt64 = 0
    /// Events read back from recordings (`monitor --record`), and their lines that were not events.
    public var recordedEvents: UInt64 = 0
    public var malformedLines: UInt64 = 0
    public init() {}
  }

  /// Reported while a file is read, at most every `progressInterval` seconds.
  public struct Progress: Sendable {
    public var path: String
    public var bytesRead: Int64
    public var size: Int64
    public var packets: UInt64
    public var packetsPerSecond: Double
  }

  public let pipeline: Pipeline
  public private(set) var observer: PacketObserver
  public private(set) var summary = Summary()
  public var progressInterval: Double = 2
  private var records: [CapturedRecord] = []

  public init(pipeline: Pipeline, observer: PacketObserver = PacketObserver()) {
    self.pipeline = pipeline
    self.observer = observer
    records.reserveCapacity(4)
  }

  /// Replays one file into `sink`; a file that cannot be opened or read to its end is recorded in
  /// the summary's `fileErrors`, and what was read before the error still counts.
  public func replay<Sink: EventSink>(path: String, to sink: Sink, progress: (Progress) -> Void = { _ in }) {
    summary.files += 1
    if Self.isRecording(path) {
      rerunRecording(path, to: sink)
      return
    }
    let file: CaptureFile
    do {
      file = try CaptureFile(path: path)
    } catch {
      summary.fileErrors.append(error.description)
      summary.unreadableFiles += 1
      return
    }
    let started = monotonicSeconds()
    var lastReport = started
    var packets: UInt64 = 0
    var packet = DecodedPacket()
    var firstSkip: [DecodeSkip: Int] = [:]
    let linkType = file.linkType
    // The per-packet state in locals, written back once: no exclusive access to `self` per packet.
    var observer = self.observer
    var records = self.records
    var skipped = summary.skipped
    var decoded: UInt64 = 0
    var clamped: UInt64 = 0
    var firstClamped: Int?
    let pipeline = self.pipeline
    let readError = file.forEachFrame { frame in
      packets += 1
      if frame.timestampClamped {
        clamped += 1
        if firstClamped == nil { firstClamped = frame.number }
      }
      if let skip = PacketDecoder.decode(frame.bytes, linkType: linkType, into: &packet) {
        skipped[skip, default: 0] += 1
        if firstSkip[skip] == nil { firstSkip[skip] = frame.number }
      } else {
        decoded += 1
        observer.observe(packet, frame: frame.bytes, at: frame.timestamp, into: &records)
        for record in records { pipeline.process(record, to: sink) }
        records.removeAll(keepingCapacity: true)
      }
      if packets & 0xffff == 0 {
        let now = monotonicSeconds()
        if now - lastReport >= progressInterval {
          lastReport = now
          progress(
            Progress(
              path: path, bytesRead: file.bytesRead, size: file.size, packets: packets,
              packetsPerSecond: Double(packets) / max(now - started, 1e-9)))
        }
      }
    }
    sink.flush()
    self.observer = observer
    self.records = records
    summary.skipped = skipped
    summary.decoded += decoded
    summary.clampedTimestamps += clamped
    summary.packets += packets
    summary.bytes += file.size
    for (skip, number) in firstSkip.sorted(by: { $0.value < $1.value }) {
      summary.firstSkipped.append("\(path): \(skip.label) first at packet \(number)")
    }
    if let firstClamped {
      summary.firstSkipped.append(
        "\(path): \(clamped) times outside 1970-2116 clamped to that range, first at packet \(firstClamped)")
    }
    if let readError { summary.fileErrors.append("\(path): \(readError)") }
  }

  /// A recording's lines are read up to this many bytes (an event is under 4 KiB); a longer line is
  /// skipped unread and counted malformed, so memory stays bounded whatever the file holds.
  public static let maximumRecordingLineBytes = 1 << 20

  /// A recording is JSON lines: its first byte opens an object. Captures start with a binary magic.
  static func isRecording(_ path: String) -> Bool {
    guard let file = fopen(path, "r") else { return false }
    defer { fclose(file) }
    return fgetc(file) == Int32(UInt8(ascii: "{"))
  }

  /// Re-runs the events of a recording through the rules, line by line; a line that is not an
  /// event is counted and the first one reported with its line number.
  private func rerunRecording<Sink: EventSink>(_ path: String, to sink: Sink) {
    var file: BoundedLineFile
    do {
      file = try BoundedLineFile(path: path)
    } catch {
      summary.fileErrors.append("\(path): cannot open: \(error.reason)")
      summary.unreadableFiles += 1
      return
    }
    var decoder = EventJSONReader.Decoder()
    var lastLine = 0
    var firstMalformed: (line: Int, column: Int, reason: String)?
    var recorded: UInt64 = 0
    var malformed: UInt64 = 0
    let pipeline = self.pipeline
    let readError = file.forEachLine(maximumLineLength: Self.maximumRecordingLineBytes) { line in
      let outcome: EventJSONReader.Outcome
      switch line {
      case .tooLong(_, let number):
        lastLine = number
        outcome = .malformed("a line over the \(Self.maximumRecordingLineBytes) bytes read", column: 1)
      case .text(let bytes, let number):
        lastLine = number
        guard !Self.isBlank(bytes) else { return }
        outcome = decoder.read(bytes)
      }
      // Consumed, so that the event is moved out rather than copied (an event holds a dozen references).
      switch consume outcome {
      case .event(let event):
        recorded += 1
        pipeline.rerun(event, to: sink)
      case .skipped:
        break
      case .malformed(let reason, let column):
        malformed += 1
        if firstMalformed == nil { firstMalformed = (lastLine, column, reason) }
      }
    }
    sink.flush()
    summary.recordedEvents += recorded
    summary.malformedLines += malformed
    summary.bytes += Int64(file.bytesRead)
    if let (number, column, reason) = firstMalformed {
      summary.firstSkipped.append("\(path):\(number):\(column): malformed lines first here (\(reason))")
    }
    if let readError {
      summary.fileErrors.append("\(path): read failed after line \(lastLine): \(readError.reason)")
    }
  }

  /// A line of JSON whitespace only (a trailing newline, a blank line) is no line at all.
  private static func isBlank(_ bytes: UnsafeRawBufferPointer) -> Bool {
    bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0B || $0 == 0x0C }
  }

  private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
  }
}

extension Pipeline.Configuration {
  /// The configuration for a source without sockets: the tracker validates every segment (handshakes
  /// against their SYN, FIN/RST against their sender's sequence), as capture files need.
  public var validatingSegments: Pipeline.Configuration {
    var configuration = self
    configuration.flows.validatesSegments = true
    return configuration
  }
}

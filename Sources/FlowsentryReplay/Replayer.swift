import FlowsentryCore
import FlowsentryOutput
import FlowsentryPackets
import FlowsentryPipeline
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Reads capture files through the decoder and the packet observer into a `Pipeline`: the same
/// tracking, DNS and rules as `monitor`, in packet time. Give it a pipeline made with
/// `Configuration.validatingSegments`: without sockets, the tracker must check what it sees.
/// `replay` each file in order, then `finish` once.
public final class Replayer {
  /// What a replay read and what it could not use.
  public struct Summary: Sendable {
    public var files = 0
    /// Of those, the captures and the recordings opened (an unusable recording included).
    public var captureFiles = 0
    public var recordingFiles = 0
    public var packets: UInt64 = 0
    public var bytes: Int64 = 0
    public var decoded: UInt64 = 0
    public var skipped: [DecodeSkip: UInt64] = [:]
    /// The first packet skipped for each reason, per file: where to look in Wireshark.
    public var firstSkipped: [String] = []
    /// Files that could not be opened or read to their end.
    public var fileErrors: [String] = []
    /// Of those, files that could not be opened at all, or are neither a capture nor a recording.
    public var unreadableFiles = 0
    /// Recordings with lines, none of them an event to re-run (another schema version, another
    /// format): replayed, they would read as "nothing happened".
    public var unusableFiles = 0
    /// Frames whose recorded time was outside `CaptureFile.timestampRange`, replayed at its nearer end.
    public var clampedTimestamps: UInt64 = 0
    /// Events read back from recordings (`monitor --record`), and their lines that were not events.
    public var recordedEvents: UInt64 = 0
    public var malformedLines: UInt64 = 0
    /// The recorded events by kind, the kinds seen only.
    public var recordedByKind: [EventName: UInt64] = [:]
    /// Lines of the schema that are no event to re-run: alerts, and events this version does not
    /// know (a newer recorder's), the first of those per file in `unknownEvents`.
    public var alertLines: UInt64 = 0
    public var unknownEventLines: UInt64 = 0
    public var unknownEvents: [String] = []
    /// Recorded events, and captured packets, earlier than one replayed before them by more than a
    /// few seconds (files given newest first), and the first of them: where (`path:line` of a
    /// recording, `path: packet N` of a capture), and by how much.
    public var backwardsEvents: UInt64 = 0
    public var backwardsPackets: UInt64 = 0
    public var firstBackwards: (place: String, nanoseconds: Int64)?
    public init() {}
  }

  /// Reported while a file is read, at most every `progressInterval` seconds (a recording's from
  /// the thread that reads it).
  public struct Progress: Sendable {
    public var path: String
    public var bytesRead: Int64
    public var size: Int64
    public var packets: UInt64
    public var packetsPerSecond: Double
    /// A recording's: its events read so far, and per second (its packets are 0).
    public var isRecording = false
    public var events: UInt64 = 0
    public var eventsPerSecond: Double = 0
  }

  public let pipeline: Pipeline
  public private(set) var observer: PacketObserver
  public private(set) var summary = Summary()
  public var progressInterval: Double = 2
  /// Whether a recording is read and decoded on a thread of its own, beside the pipeline's: on by
  /// default where there are two processors or more.
  public var readsOnItsOwnThread = sysconf(Int32(_SC_NPROCESSORS_ONLN)) > 1
  private var records: [CapturedRecord] = []
  /// The latest time of the recorded events and captured packets replayed so far, across files.
  private var latestReplayedTime = Int64.min

  public init(pipeline: Pipeline, observer: PacketObserver = PacketObserver()) {
    self.pipeline = pipeline
    self.observer = observer
    records.reserveCapacity(4)
  }

  /// Replays one file into `sink`; a file that cannot be opened or read to its end is recorded in
  /// the summary's `fileErrors`, and what was read before the error still counts.
  public func replay<Sink: EventSink>(
    path: String, to sink: Sink, progress: @escaping @Sendable (Progress) -> Void = { _ in }
  ) {
    summary.files += 1
    if let reason = Self.notAFile(path) {
      summary.fileErrors.append("\(path): \(reason)")
      summary.unreadableFiles += 1
      return
    }
    switch Self.content(of: path) {
    case .recording:
      rerunRecording(path, to: sink, progress: progress)
      return
    case .neither(let start):
      summary.fileErrors.append(
        "\(path): neither a capture (pcap or pcapng) nor a recording (JSON lines): it starts with \(start)")
      summary.unreadableFiles += 1
      return
    case .capture:
      break
    }
    let file: CaptureFile
    do {
      file = try CaptureFile(path: path)
    } catch {
      summary.fileErrors.append(error.description)
      summary.unreadableFiles += 1
      return
    }
    summary.captureFiles += 1
    let started = Self.monotonicSeconds()
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
    // As a recording's events (RecordingReader.backwardsTolerance): a capture of several
    // interfaces or CPUs interleaves a little out of order, files given newest first by hours.
    var latest = latestReplayedTime
    var backwards: UInt64 = 0
    var firstBackwards: (packet: Int, nanoseconds: Int64)?
    let pipeline = self.pipeline
    let readError = file.forEachFrame { frame in
      packets += 1
      if frame.timestampClamped {
        clamped += 1
        if firstClamped == nil { firstClamped = frame.number }
      }
      // Times are clamped to 0...2^62: the difference cannot overflow. A clamped time (reported
      // on its own) is left out: one corrupt record would make every later packet read as backwards.
      if !frame.timestampClamped {
        if frame.timestamp > latest {
          latest = frame.timestamp
        } else if latest - frame.timestamp > RecordingReader.backwardsTolerance {
          backwards += 1
          if firstBackwards == nil { firstBackwards = (frame.number, latest - frame.timestamp) }
        }
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
        let now = Self.monotonicSeconds()
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
    latestReplayedTime = latest
    summary.backwardsPackets += backwards
    if summary.firstBackwards == nil, let (packet, nanoseconds) = firstBackwards {
      summary.firstBackwards = ("\(path): packet \(packet)", nanoseconds)
    }
    for (skip, number) in firstSkip.sorted(by: { $0.value < $1.value }) {
      summary.firstSkipped.append("\(path): \(skip.label) first at packet \(number)")
    }
    if let firstClamped {
      summary.firstSkipped.append(
        "\(path): \(clamped) times outside 1970-2116 clamped to that range, first at packet \(firstClamped)")
    }
    if let readError { summary.fileErrors.append("\(path): \(readError)") }
  }

  /// Ends the run, once its last file was replayed: every DNS question still waiting is reported
  /// unanswered (`Pipeline.finishInput`), as the capture holds no answer to it. Files are one input
  /// in sequence (a question at the end of one may be answered at the start of the next, a capture
  /// rotated mid-lookup), so this comes once, after them all, never per file. A recording's DNS
  /// events were decided when it was recorded and pass no question through the matcher: it leaves
  /// nothing here.
  public func finish<Sink: EventSink>(to sink: Sink) {
    pipeline.finishInput(to: sink)
    sink.flush()
  }

  /// A recording's lines are read up to this many bytes (an event is under 4 KiB); a longer line is
  /// skipped unread and counted malformed, so memory stays bounded whatever the file holds.
  public static let maximumRecordingLineBytes = 1 << 20

  /// Why `path` cannot be replayed, when it is not a regular file: telling a recording from a
  /// capture reads the first byte, which a pipe or a device would not give back, and the file would
  /// then replay as empty, without a word. nil for a regular file, or one that cannot be stat'ed
  /// (opening it then reports why).
  static func notAFile(_ path: String) -> String? {
    var status = stat()
    guard stat(path, &status) == 0, status.st_mode & S_IFMT != S_IFREG else { return nil }
    let kind: String
    switch status.st_mode & S_IFMT {
    case S_IFIFO: kind = "a pipe"
    case S_IFDIR: kind = "a directory"
    case S_IFCHR, S_IFBLK: kind = "a device"
    case S_IFSOCK: kind = "a socket"
    default: kind = "not a regular file"
    }
    return "\(kind): replay reads capture files and recordings (save the stream to a file first)"
  }

  enum Content: Equatable {
    case capture, recording
    /// Neither: the first bytes, in hex, to tell what it is (a zip, gzip, text).
    case neither(String)
  }

  /// Leading blanks a recording may start with before `content` calls it one anyway: the line
  /// reader skips blank lines wherever they are, so more of them tells nothing more.
  static let leadingBlankLimit = 1 << 16

  /// What `path` holds, from its first bytes: a pcap or pcapng magic (before blanks are skipped:
  /// pcapng's starts with a newline) is a capture; a file that is empty, or whose first byte after
  /// a UTF-8 byte order mark and JSON blanks opens an object, is a recording (`monitor --record`
  /// creates its file empty, at start and after each rotation). A file that cannot be opened is
  /// taken for a capture, whose opening reports why.
  static func content(of path: String) -> Content {
    guard let file = fopen(path, "r") else { return .capture }
    defer { fclose(file) }
    var magic: [UInt8] = []
    while magic.count < 4, case let byte = fgetc(file), byte != EOF { magic.append(UInt8(byte)) }
    // pcap (microsecond and nanosecond, either byte order), the "modified" pcap libpcap also reads,
    // and pcapng.
    let captureMagics: [[UInt8]] = [
      [0xD4, 0xC3, 0xB2, 0xA1], [0xA1, 0xB2, 0xC3, 0xD4], [0x4D, 0x3C, 0xB2, 0xA1], [0xA1, 0xB2, 0x3C, 0x4D],
      [0x34, 0xCD, 0xB2, 0xA1], [0xA1, 0xB2, 0xCD, 0x34], [0x0A, 0x0D, 0x0D, 0x0A],
    ]
    if captureMagics.contains(magic) { return .capture }
    var pending = magic[...]
    if pending.starts(with: [0xEF, 0xBB, 0xBF]) { pending = pending.dropFirst(3) }
    var skipped = 0
    while true {
      let byte: Int32
      if let next = pending.popFirst() { byte = Int32(next) } else { byte = fgetc(file) }
      switch byte {
      case EOF, Int32(UInt8(ascii: "{")):
        return .recording
      case 0x20, 0x09, 0x0A, 0x0D:
        skipped += 1
        if skipped > leadingBlankLimit { return .recording }
      default:
        return .neither(magic.map { String(format: "%02x", $0) }.joined(separator: " "))
      }
    }
  }

  /// Re-runs the events of a recording through the rules, line by line; a line that is not an
  /// event is counted and the first one reported with its line number. With `readsOnItsOwnThread`,
  /// lines are read and decoded on a thread of their own while this one runs the pipeline.
  private func rerunRecording<Sink: EventSink>(
    _ path: String, to sink: Sink, progress: @escaping @Sendable (Progress) -> Void
  ) {
    var status = stat()
    let size = stat(path, &status) == 0 ? Int64(status.st_size) : 0
    let interval = progressInterval
    let pipeline = self.pipeline
    let limit = Self.maximumRecordingLineBytes
    let latest = latestReplayedTime
    var result: RecordingReader.Result
    if readsOnItsOwnThread {
      let handOff = EventHandOff()
      let reader = Thread {
        let tick = Self.progressTicks(path, size: size, interval: interval, progress)
        handOff.finish(
          RecordingReader.read(path, maximumLineBytes: limit, after: latest, tick: tick) { handOff.put($0) })
      }
      reader.name = "flowsentry-replay-reader"
      reader.start()
      while handOff.take({ pipeline.rerun($0, to: sink) }) {}
      // Set before the last take returned false.
      result = handOff.result ?? RecordingReader.Result()
    } else {
      let tick = Self.progressTicks(path, size: size, interval: interval, progress)
      result = RecordingReader.read(path, maximumLineBytes: limit, after: latest, tick: tick) {
        pipeline.rerun($0, to: sink)
      }
    }
    if let reason = result.openFailure {
      summary.fileErrors.append("\(path): cannot open: \(reason)")
      summary.unreadableFiles += 1
      return
    }
    sink.flush()
    summary.recordingFiles += 1
    for (name, count) in zip(EventName.allCases, result.byKind) where count > 0 {
      summary.recordedByKind[name, default: 0] += count
    }
    summary.recordedEvents += result.recorded
    summary.malformedLines += result.malformed
    latestReplayedTime = result.latestTime
    summary.backwardsEvents += result.backwardsEvents
    if summary.firstBackwards == nil, let (line, nanoseconds) = result.firstBackwards {
      summary.firstBackwards = ("\(path):\(line)", nanoseconds)
    }
    summary.alertLines += result.alertLines
    summary.unknownEventLines += result.unknownEventLines
    if let (number, name) = result.firstUnknownEvent {
      summary.unknownEvents.append(
        "\(path):\(number): \(result.unknownEventLines) lines of events unknown to this version skipped, "
          + "the first here (\(Self.printable(name)))")
    }
    summary.bytes += Int64(result.bytesRead)
    if let (number, column, reason) = result.firstMalformed {
      summary.firstSkipped.append("\(path):\(number):\(column): malformed lines first here (\(reason))")
    }
    let lines = result.recorded + result.malformed + result.alertLines + result.unknownEventLines
    if result.recorded == 0 && lines > 0 {
      var error = "\(path): no usable event in \(lines) lines"
      if let (number, column, reason) = result.firstMalformed {
        error += " (the first malformed at \(path):\(number):\(column): \(reason))"
      } else if let (number, name) = result.firstUnknownEvent {
        error += " (the first unknown event at \(path):\(number): \(Self.printable(name)))"
      }
      summary.fileErrors.append(error)
      summary.unusableFiles += 1
    }
    if let reason = result.readFailure {
      summary.fileErrors.append("\(path): read failed after line \(result.lastLine): \(reason)")
    }
  }

  /// A name from a file, as it can go in a log line: as is when it is short and plain, else quoted
  /// and escaped.
  static func printable(_ name: String) -> String {
    let plain = name.utf8.count <= 64 && !name.isEmpty && name.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    return plain ? name : String(name.prefix(64)).debugDescription
  }

  /// What `RecordingReader.read` calls every few thousand lines: reports progress once
  /// `interval` passed since the last report, as the capture path does. Made on the thread that
  /// reads, and used only there.
  private static func progressTicks(
    _ path: String, size: Int64, interval: Double, _ progress: @escaping @Sendable (Progress) -> Void
  ) -> (Int, UInt64) -> Void {
    let started = monotonicSeconds()
    var lastReport = started
    return { bytesRead, events in
      let now = monotonicSeconds()
      guard now - lastReport >= interval else { return }
      lastReport = now
      progress(
        Progress(
          path: path, bytesRead: Int64(bytesRead), size: size, packets: 0, packetsPerSecond: 0, isRecording: true,
          events: events, eventsPerSecond: Double(events) / max(now - started, 1e-9)))
    }
  }

  private static func monotonicSeconds() -> Double {
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

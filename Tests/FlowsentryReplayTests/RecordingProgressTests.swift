import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryTestSupport
import Foundation
import Testing

extension RecordingInputTests {
  /// Recordings report progress as captures do.
  @Test func recordingsReportProgress() throws {
    let directory = try temporaryDirectory("rec-progress")
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("long.rec").path
    var text = ""
    for index in 0..<20_000 { text += Self.line(index % 1000, seconds: Int64(index / 100)) + "\n" }
    try write(Array(text.utf8), path)
    let size = Int64(text.utf8.count)
    for readsOnItsOwnThread in [false, true] {
      let replayer = Replayer(pipeline: Pipeline())
      replayer.readsOnItsOwnThread = readsOnItsOwnThread
      replayer.progressInterval = 0
      let reports = ProgressReports()
      replayer.replay(path: path, to: InMemoryEventSink()) { reports.add($0) }
      let seen = reports.all
      #expect(!seen.isEmpty)
      #expect(seen.allSatisfy { $0.path == path && $0.size == size && $0.bytesRead > 0 && $0.bytesRead <= size })
      #expect(replayer.summary.recordedEvents == 20_000)
    }
  }
}

/// Progress reports, from whichever thread reads.
final class ProgressReports: @unchecked Sendable {
  private let lock = NSLock()
  private var reports: [Replayer.Progress] = []

  func add(_ progress: Replayer.Progress) { lock.withLock { reports.append(progress) } }
  var all: [Replayer.Progress] { lock.withLock { reports } }
}

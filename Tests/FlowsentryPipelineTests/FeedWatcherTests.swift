import FlowsentryPipeline
import Foundation
import Synchronization
import Testing

/// A feed replaced by rename, as refresh jobs do, is reported once it settles; other files are not.
@Suite struct FeedWatcherTests {
  @Test func aFeedRenamedIntoPlaceIsReportedOnceAfterItSettles() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "fs-feeds-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let watcher = try FeedWatcher(
      patterns: [directory.path + "/*.domains.txt", "/nonexistent-\(getpid())/x.txt"], settle: .milliseconds(200))
    #expect(watcher.directories == [directory.path])
    #expect(watcher.unwatched.map(\.directory) == ["/nonexistent-\(getpid())"])
    let reports = Mutex<[[String]]>([])
    watcher.start { paths in reports.withLock { $0.append(paths) } }
    defer { watcher.stop() }

    // Two feeds refreshed in one job, through temporary names, and a file no pattern names.
    for name in ["a", "b"] {
      let temporary = directory.appendingPathComponent(".\(name).tmp")
      try Data("evil.example\n".utf8).write(to: temporary)
      #expect(rename(temporary.path, directory.appendingPathComponent("\(name).domains.txt").path) == 0)
    }
    try Data("x".utf8).write(to: directory.appendingPathComponent("notes.txt"))
    let deadline = ContinuousClock.now + .seconds(10)
    while reports.withLock({ $0.isEmpty }) && ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(50))
    }
    try await Task.sleep(for: .milliseconds(500))
    let seen = reports.withLock { $0 }
    #expect(
      seen == [
        [
          directory.appendingPathComponent("a.domains.txt").path,
          directory.appendingPathComponent("b.domains.txt").path,
        ]
      ])

    // Only a change to a watched feed reports again.
    try Data("x".utf8).write(to: directory.appendingPathComponent("notes.txt"))
    try await Task.sleep(for: .milliseconds(600))
    #expect(reports.withLock { $0.count } == 1)
  }
}

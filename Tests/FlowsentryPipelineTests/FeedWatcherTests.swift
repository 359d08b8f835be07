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

  /// Two lists naming one directory by two spellings (an absolute path, and `../intel` from a rule
  /// file's directory): inotify gives the directory one watch, and each spelling's pattern must
  /// still see its files. Only the spelling written last was kept, so `*.ip.txt` changes under the
  /// other went unreported until the periodic check, minutes later.
  @Test func aDirectoryNamedTwoWaysReportsTheFilesOfBothPatterns() async throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent(
      "fs-feeds-two-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    let intel = root.appendingPathComponent("intel")
    try FileManager.default.createDirectory(at: intel, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(at: root.appendingPathComponent("rules"), withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: root) }
    let viaRules = root.path + "/rules/../intel"
    for patterns in [
      [intel.path + "/*.ip.txt", viaRules + "/*.domains.txt"], [viaRules + "/*.domains.txt", intel.path + "/*.ip.txt"],
    ] {
      let watcher = try FeedWatcher(patterns: patterns, settle: .milliseconds(150))
      #expect(watcher.unwatched.isEmpty)
      let reports = Mutex<[String]>([])
      watcher.start { paths in reports.withLock { $0 += paths } }
      defer { watcher.stop() }
      try Data("203.0.113.9\n".utf8).write(to: intel.appendingPathComponent("c2.ip.txt"))
      try Data("evil.example\n".utf8).write(to: intel.appendingPathComponent("c2.domains.txt"))
      let deadline = ContinuousClock.now + .seconds(10)
      while reports.withLock({ $0.count < 2 }) && ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(50))
      }
      #expect(
        Set(reports.withLock { $0 }) == [intel.path + "/c2.ip.txt", viaRules + "/c2.domains.txt"], "\(patterns)")
      try FileManager.default.removeItem(at: intel.appendingPathComponent("c2.ip.txt"))
      try FileManager.default.removeItem(at: intel.appendingPathComponent("c2.domains.txt"))
      try await Task.sleep(for: .milliseconds(400))
    }
  }
}

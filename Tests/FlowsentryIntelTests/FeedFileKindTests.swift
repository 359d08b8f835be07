import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryIntel

/// A feed path that names no regular file is refused before it is opened: opening is what a device
/// acts on (`/dev/watchdog` arms) and what a FIFO waits on.
@Suite struct FeedFileKindTests {
  /// How many times `path` was opened while `body` ran, as inotify saw it.
  static func opens(of path: String, during body: () throws -> Void) throws -> Int {
    let watcher = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
    try #require(watcher >= 0)
    defer { _ = close(watcher) }
    try #require(inotify_add_watch(watcher, path, UInt32(IN_OPEN)) >= 0)
    try body()
    var buffer = [UInt8](repeating: 0, count: 4_096)
    var events = 0
    while true {
      let count = buffer.withUnsafeMutableBytes { read(watcher, $0.baseAddress, $0.count) }
      guard count > 0 else { return events }
      var offset = 0
      while offset + 16 <= count {
        events += 1
        // wd, mask, cookie, then the length of the name that follows.
        let nameLength = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self) }
        offset += 16 + Int(nameLength)
      }
    }
  }

  /// Each way a feed is read, the reason it gave for refusing `path` (nil from one that read it).
  static func refusals(_ path: String) -> [String?] {
    var reasons: [String?] = []
    if case .failure(.unreadable(_, let reason)) = FeedScanning.scan(path: path, countingLines: true) {
      reasons.append(reason)
    } else {
      reasons.append(nil)
    }
    do {
      _ = try IntelListLoader.load(
        IntelListSpecification(name: "l", type: .domain, files: [path]), baseDirectory: "")
      reasons.append(nil)
    } catch {
      if case .unreadable(_, let reason) = error.error { reasons.append(reason) } else { reasons.append("\(error)") }
    }
    return reasons
  }

  @Test func aFIFOIsRefusedWithoutBeingOpened() throws {
    let directory = try FeedDirectory()
    let fifo = directory.url.appendingPathComponent("feed.fifo").path
    try #require(mkfifo(fifo, 0o600) == 0)
    let opens = try Self.opens(of: fifo) {
      #expect(feedExtent(ofFileAt: fifo) == nil)
      #expect(Self.refusals(fifo) == ["not a regular file (a FIFO)", "not a regular file (a FIFO)"])
    }
    #expect(opens == 0)
    // The watch does see an open.
    let seen = try Self.opens(of: fifo) { _ = close(open(fifo, O_RDONLY | O_NONBLOCK)) }
    #expect(seen == 1)
  }

  @Test func aCharacterDeviceIsRefused() throws {
    #expect(feedExtent(ofFileAt: "/dev/null") == nil)
    #expect(
      Self.refusals("/dev/null") == [
        "not a regular file (a character device)", "not a regular file (a character device)",
      ])
  }
}

/// A feed file past `IntelLimits.maximumFeedFileBytes` is refused before a byte of it is read.
@Suite struct FeedFileSizeTests {
  @Test func aFeedOverTheSizeLimitIsRefusedUnread() throws {
    let directory = try FeedDirectory()
    let path = try directory.write("huge.txt", "evil.example\n")
    // Sparse: no block of it is written.
    try #require(truncate(path, off_t(IntelLimits.maximumFeedFileBytes) + 1) == 0)
    let reason =
      "\(IntelLimits.maximumFeedFileBytes + 1) bytes, over the limit of \(IntelLimits.maximumFeedFileBytes) bytes"
    let clock = ContinuousClock()
    let start = clock.now
    #expect(feedExtent(ofFileAt: path) == nil)
    #expect(FeedFileKindTests.refusals(path) == [reason, reason])
    #expect(clock.now - start < .seconds(1))
  }

  /// The size a file had when opened does not bound what is read of it: one that grows while read,
  /// or a kernel file that says 0 bytes, stops at the limit with a reason.
  @Test func readingStopsAtTheLimitWhateverTheSizeSaid() throws {
    let directory = try FeedDirectory()
    let path = try directory.write("growing.txt", "a.example\n")
    var file = try BoundedLineFile(path: path, maximumBytes: 64)
    let appended = try #require(fopen(path, "a"))
    fputs(String(repeating: "b.example\n", count: 20), appended)
    fclose(appended)
    var lines = 0
    let failure = file.forEachLine(maximumLineLength: 1_000) { _ in lines += 1 }
    #expect(failure?.reason == RegularFile.pastLimitWhileRead(64))
    #expect(lines == 0)

    var pagemap = try BoundedLineFile(path: "/proc/self/pagemap", maximumBytes: 1 << 16)
    let clock = ContinuousClock()
    let start = clock.now
    #expect(pagemap.forEachLine(maximumLineLength: 1_000) { _ in }?.reason == RegularFile.pastLimitWhileRead(1 << 16))
    #expect(clock.now - start < .seconds(1))
  }
}

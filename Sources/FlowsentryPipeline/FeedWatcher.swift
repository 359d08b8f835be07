import FlowsentryIntel
import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Watches the directories of threat-intel feed files (inotify, one watch a directory, at most
/// `maximumDirectories`) and reports a change once it has settled: an operator's refresh job writes
/// a feed beside it and renames it into place, and a job refreshing several feeds makes one reload,
/// not one a file. Its blocking reads run on a thread of its own.
public final class FeedWatcher: Sendable {
  /// More directories than this are not watched (and said so): each watch costs a kernel object.
  public static let maximumDirectories = 64

  /// The directories watched, and the patterns (paths or globs, `fnmatch(3)`) whose files count.
  public let directories: [String]
  public let patterns: [String]
  /// Directories of patterns that could not be watched (absent, or past the limit), with the reason.
  public let unwatched: [(directory: String, reason: String)]
  /// How long the directories must stay quiet after a change before it is reported.
  public let settle: Duration

  private let descriptor: Int32
  /// Each watch's directory, by the watch descriptor inotify gave it: every spelling of it that the
  /// patterns use (`/etc/flowsentry/intel` and `rules.d/../intel` are one inode, so one watch), each
  /// matched against the patterns, since a pattern matches only the spelling it was written with.
  private let watches: [Int32: [String]]
  private let stopping = Atomic<Bool>(false)
  private let stopPipe: (read: Int32, write: Int32)

  /// Fails only when inotify itself is unavailable; directories that cannot be watched are listed
  /// in `unwatched`.
  public init(patterns: [String], settle: Duration = .seconds(1)) throws(FeedWatchError) {
    let descriptor = inotify_init1(Int32(IN_CLOEXEC))
    guard descriptor >= 0 else { throw FeedWatchError(reason: "inotify: \(String(cString: strerror(errno)))") }
    var pipeEnds: [Int32] = [0, 0]
    guard pipe(&pipeEnds) == 0 else {
      _ = close(descriptor)
      throw FeedWatchError(reason: "pipe: \(String(cString: strerror(errno)))")
    }
    var directories: [String] = []
    var watches: [Int32: [String]] = [:]
    var unwatched: [(String, String)] = []
    for directory in Set(patterns.map(IntelListLoader.globDirectory)).sorted() {
      guard directories.count < Self.maximumDirectories else {
        unwatched.append((directory, "more than \(Self.maximumDirectories) feed directories"))
        continue
      }
      let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE)
      let watch = inotify_add_watch(descriptor, directory, mask)
      if watch >= 0 {
        directories.append(directory)
        watches[watch, default: []].append(directory)
      } else {
        unwatched.append((directory, String(cString: strerror(errno))))
      }
    }
    self.descriptor = descriptor
    self.stopPipe = (pipeEnds[0], pipeEnds[1])
    self.directories = directories
    self.watches = watches
    self.patterns = patterns
    self.unwatched = unwatched
    self.settle = settle
  }

  deinit {
    _ = close(descriptor)
    _ = close(stopPipe.read)
    _ = close(stopPipe.write)
  }

  /// Whether a file at `path` is one a pattern names.
  func isFeed(_ path: String) -> Bool {
    patterns.contains { fnmatch($0, path, FNM_PATHNAME) == 0 }
  }

  /// Reports each settled change (the feed paths that changed) until `stop()`; runs on a new thread.
  public func start(_ report: @escaping @Sendable ([String]) -> Void) {
    let thread = Thread { [self] in run(report) }
    thread.name = "flowsentry-feeds"
    thread.start()
  }

  /// Ends the watching thread at its next wake-up (at once: it is woken through a pipe).
  public func stop() {
    guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
    var byte: UInt8 = 1
    _ = write(stopPipe.write, &byte, 1)
  }

  private func run(_ report: @Sendable ([String]) -> Void) {
    var changed: Set<String> = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 8)
    defer { buffer.deallocate() }
    let settleMilliseconds = Int32(
      clamping: settle.components.seconds * 1000 + settle.components.attoseconds / 1_000_000_000_000_000)
    while !stopping.load(ordering: .acquiring) {
      var descriptors = [
        pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
        pollfd(fd: stopPipe.read, events: Int16(POLLIN), revents: 0),
      ]
      // Waits for the first change without limit, then until the directories have been quiet for `settle`.
      let ready = poll(&descriptors, 2, changed.isEmpty ? -1 : settleMilliseconds)
      if ready < 0 {
        if errno == EINTR { continue }
        return
      }
      if descriptors[1].revents != 0 { return }
      if ready == 0 {
        report(changed.sorted())
        changed.removeAll()
        continue
      }
      let count = read(descriptor, buffer.baseAddress, buffer.count)
      guard count > 0 else {
        if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
        return
      }
      changed.formUnion(paths(in: UnsafeRawBufferPointer(rebasing: buffer[0..<count])))
    }
  }

  /// The feed paths named by a read's events (`IN_Q_OVERFLOW`, events lost, counts as every directory).
  private func paths(in events: UnsafeRawBufferPointer) -> [String] {
    var result: [String] = []
    var offset = 0
    let headerSize = MemoryLayout<inotify_event>.size
    while offset + headerSize <= events.count {
      let watch = events.loadUnaligned(fromByteOffset: offset, as: Int32.self)
      let mask = events.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
      let length = Int(events.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
      let nameStart = offset + headerSize
      offset = nameStart + length
      if mask & UInt32(IN_Q_OVERFLOW) != 0 {
        result.append(contentsOf: directories)
        continue
      }
      guard let spellings = watches[watch], length > 0, offset <= events.count else { continue }
      let nameBytes = UnsafeRawBufferPointer(rebasing: events[nameStart..<offset]).prefix { $0 != 0 }
      let name = String(decoding: nameBytes, as: UTF8.self)
      for directory in spellings where isFeed(directory + "/" + name) { result.append(directory + "/" + name) }
    }
    return result
  }
}

public struct FeedWatchError: Error, Sendable, CustomStringConvertible {
  public var reason: String
  public var description: String { "cannot watch feeds: \(reason)" }
}

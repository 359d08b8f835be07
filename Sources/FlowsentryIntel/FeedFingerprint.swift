import FlowsentryCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A feed file's bytes, as far as a reload needs to know them: a file renamed into place with the
/// same size and hash holds what the running rules were loaded from, whatever its inode or times.
public struct FeedFingerprint: Sendable, Equatable {
  public var size: Int
  /// `KeyedHash` chained over the file's blocks, under a key drawn at random once a process and
  /// never shown (fingerprints never outlive it): a feed's publisher cannot aim at a collision it
  /// cannot compute, and a chance one would only keep the set loaded from the older bytes.
  public var hash: UInt64
  /// The file the bytes were read from, unchanged since (`FeedFileIdentity`): a file that still
  /// is that file has not been written, which a periodic check trusts without reading it again.
  var file: FeedFileIdentity?

  public init(size: Int, hash: UInt64) {
    self.size = size
    self.hash = hash
  }

  /// The same bytes, wherever they were read from.
  public static func == (left: Self, right: Self) -> Bool { left.size == right.size && left.hash == right.hash }
}

/// Which file a path named while it was read: its device and inode, its size and its modification
/// and change times. A rename or a write changes one of them (the change time even where the
/// modification time is set back), so a path with the same identity before and after two reads
/// gave both the same bytes.
struct FeedFileIdentity: Equatable, Sendable {
  var device: UInt64
  var inode: UInt64
  var size: Int64
  var modified: timespec
  var changed: timespec

  init(_ status: stat) {
    device = UInt64(status.st_dev)
    inode = UInt64(status.st_ino)
    size = Int64(status.st_size)
    modified = status.st_mtim
    changed = status.st_ctim
  }

  /// The identity `path` names now; nil when it cannot be stat'ed.
  init?(path: String) {
    var status = stat()
    guard stat(path, &status) == 0 else { return nil }
    self.init(status)
  }

  static func == (left: Self, right: Self) -> Bool {
    left.device == right.device && left.inode == right.inode && left.size == right.size
      && left.modified.tv_sec == right.modified.tv_sec && left.modified.tv_nsec == right.modified.tv_nsec
      && left.changed.tv_sec == right.changed.tv_sec && left.changed.tv_nsec == right.changed.tv_nsec
  }
}

/// One pass over a feed file: its fingerprint (with the file it was, unchanged from the first byte
/// read to the last) and its indicator lines (for sizing the builder).
struct FeedScan {
  var fingerprint: FeedFingerprint
  /// `IndicatorLineCounter`'s count and bytes.
  var lines: Int
  var lineBytes: Int
}

enum FeedScanning {
  /// The hash runs over blocks of this size (the last one shorter), whatever `read` returns, so
  /// that the same bytes always hash the same.
  static let blockBytes = 1 << 20
  static let hasher = KeyedHash()

  /// Reads the regular file at `path` through one fixed block; with `countingLines`, counts its
  /// indicator lines as `feedExtent` does. Fails (with the system's reason) when it cannot be opened or read,
  /// is not a regular file, is larger than `IntelLimits.maximumFeedFileBytes`, or changed while it was read.
  static func scan(path: String, countingLines: Bool) -> Result<FeedScan, IntelFeedError> {
    func failure(_ reason: String) -> Result<FeedScan, IntelFeedError> {
      .failure(.unreadable(path: path, reason: reason))
    }
    let descriptor: Int32
    let before: stat
    do {
      (descriptor, before) = try RegularFile.openForReading(path, maximumBytes: IntelLimits.maximumFeedFileBytes)
    } catch {
      return failure(error.reason)
    }
    defer { _ = close(descriptor) }
    let block = UnsafeMutableRawBufferPointer.allocate(byteCount: blockBytes, alignment: 16)
    defer { block.deallocate() }
    var state = hasher.initialState
    var size = 0
    var counter = IndicatorLineCounter()
    while true {
      var filled = 0
      while filled < blockBytes {
        let count = read(descriptor, block.baseAddress! + filled, blockBytes - filled)
        if count < 0 {
          if errno == EINTR { continue }
          return failure(String(cString: strerror(errno)))
        }
        if count == 0 { break }
        filled += count
      }
      guard filled > 0 else { break }
      size += filled
      if size > IntelLimits.maximumFeedFileBytes {
        return failure(RegularFile.pastLimitWhileRead(IntelLimits.maximumFeedFileBytes))
      }
      state = hasher.combine(state, block.baseAddress!, count: filled, lowercasing: false)
      if countingLines { counter.count(UnsafeRawBufferPointer(rebasing: block[0..<filled])) }
      if filled < blockBytes { break }
    }
    var after = stat()
    guard fstat(descriptor, &after) == 0 else { return failure(String(cString: strerror(errno))) }
    let identity = FeedFileIdentity(before)
    guard identity == FeedFileIdentity(after), Int64(size) == identity.size else {
      return failure("it changed while it was read")
    }
    var fingerprint = FeedFingerprint(size: size, hash: state)
    fingerprint.file = identity
    return .success(FeedScan(fingerprint: fingerprint, lines: counter.lines, lineBytes: counter.bytes))
  }
}

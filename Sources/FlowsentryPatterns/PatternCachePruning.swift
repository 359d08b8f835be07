import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// What pruning a pattern cache directory did (``PatternDatabaseCache/prune(keeping:olderThan:)``).
public struct PatternCachePruning: Sendable, Equatable {
  /// Cache files removed: unused by the set kept, and older than the grace period.
  public var removedFiles = 0
  public var removedBytes: UInt64 = 0
  /// Cache files left: those the set uses, and unused ones still within the grace period.
  public var keptFiles = 0
  public var keptBytes: UInt64 = 0
  /// Of `keptFiles`, unused ones left because they are recent (another process may be writing or
  /// about to read them); a later pruning removes them.
  public var recentFiles = 0
  /// Files that could not be removed, or a directory that could not be read: what and why.
  public var failures: [String] = []

  public init() {}
}

extension PatternDatabaseCache {
  /// How long an unused cache file is kept after it was last written. A cache directory is meant
  /// for one monitor, but `rules test --pattern-cache` and `replay` may write into it too (to warm
  /// it before a reload, say), and another process's temporary file is being written right now:
  /// neither is taken from under it. The bound on the directory is therefore the running set's
  /// files plus those written in the last 10 minutes, until the next load prunes again.
  public static let unusedFileGrace: Duration = .seconds(600)

  /// Removes the cache files in `directory` that no set named in `keys` uses and that were last
  /// written more than `minimumAge` ago: `<key>.hsdb` files, and the temporary files
  /// (`<key>.hsdb.tmp.*`) a writer killed mid-write leaves. Nothing else in the directory is
  /// touched, nor anything that is not a regular file. A missing directory holds nothing to prune.
  /// Blocking (a directory listing and an unlink a file): call it off Swift's cooperative pool.
  public func prune(keeping keys: Set<String>, olderThan minimumAge: Duration = unusedFileGrace, now: Date = Date())
    -> PatternCachePruning
  {
    var result = PatternCachePruning()
    // Nothing written yet (the first start, or no regex ever): nothing to prune, nothing wrong.
    if access(directory.path, F_OK) != 0 && errno == ENOENT { return result }
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    } catch {
      result.failures.append("cannot list \(directory.path): \(error.localizedDescription)")
      return result
    }
    let oldest = now.timeIntervalSince1970 - Double(minimumAge.components.seconds)
    for name in names.sorted() {
      guard let key = Self.cacheKey(ofFileNamed: name) else { continue }
      let path = directory.appendingPathComponent(name).path
      var status = stat()
      // lstat: a link is not ours to follow or count, whatever it is named.
      guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { continue }
      let bytes = UInt64(max(0, status.st_size))
      let inUse = keys.contains(key) && name.hasSuffix(".hsdb")
      if inUse || Double(status.st_mtim.tv_sec) > oldest {
        result.keptFiles += 1
        result.keptBytes += bytes
        if !inUse { result.recentFiles += 1 }
        continue
      }
      // A writer may have renamed a fresh file onto this name since the lstat above (`rules test
      // --pattern-cache` warming the cache): look again, and leave a file that is not the one seen (the
      // window left is the one between this lstat and the unlink; losing it costs a recompile).
      var again = stat()
      guard lstat(path, &again) == 0, again.st_ino == status.st_ino, again.st_dev == status.st_dev,
        again.st_mtim.tv_sec == status.st_mtim.tv_sec, again.st_mtim.tv_nsec == status.st_mtim.tv_nsec
      else {
        result.keptFiles += 1
        result.keptBytes += bytes
        result.recentFiles += 1
        continue
      }
      if unlink(path) == 0 || errno == ENOENT {
        result.removedFiles += 1
        result.removedBytes += bytes
      } else {
        result.failures.append("cannot remove \(path): \(String(cString: strerror(errno)))")
        result.keptFiles += 1
        result.keptBytes += bytes
      }
    }
    return result
  }

  /// The key a cache file or a writer's temporary file is named by; nil for any other name.
  static func cacheKey(ofFileNamed name: String) -> String? {
    let key = name.prefix(64)
    guard key.count == 64, key.allSatisfy({ $0.isHexDigit && ($0.isNumber || $0.isLowercase) }) else { return nil }
    let rest = name.dropFirst(64)
    guard rest == ".hsdb" || rest.hasPrefix(".hsdb.tmp.") else { return nil }
    return String(key)
  }
}

import FlowsentryPatterns
import Foundation

extension RuleSet {
  /// The cache files (their keys) the rules' pattern sets were loaded from or stored to; nil while
  /// some set is not prepared, or was prepared without a cache (its file, if any, is then unknown,
  /// and pruning could take it).
  var patternCacheKeys: Set<String>? {
    var keys: Set<String> = []
    for index in patternIndexes {
      guard index.isPrepared else { return nil }
      for leaf in index.leaves {
        // A field whose set failed to build keeps its regexes: no file of its own.
        guard let set = leaf.scan?.set else { continue }
        guard let key = set.cacheKey else { return nil }
        keys.insert(key)
      }
      // A `contains` list's database has a file too; the anchored operations' tries have none.
      for leaf in index.literalLeaves {
        guard let set = leaf.scan?.set, set.hasDatabase else { continue }
        guard let key = set.cacheKey else { return nil }
        keys.insert(key)
      }
    }
    return keys
  }

  /// Removes from `stateDirectory/patterns` the cache files these rules do not use, once their
  /// pattern sets are all prepared with that cache (else nothing: nil). Called for the set a monitor
  /// takes to run, never for one refused or discarded, so that a failed reload leaves the running
  /// set's files. Unused files written within `minimumAge` stay
  /// (``PatternDatabaseCache/unusedFileGrace``: another process's, such as a `rules test
  /// --pattern-cache` warming the cache for the next reload).
  public func prunePatternCache(
    stateDirectory: String, olderThan minimumAge: Swift.Duration = PatternDatabaseCache.unusedFileGrace,
    now: Date = Date()
  ) -> PatternCachePruning? {
    guard let keys = patternCacheKeys else { return nil }
    let cache = PatternDatabaseCache(
      directory: URL(fileURLWithPath: Self.patternCacheDirectory(stateDirectory: stateDirectory)))
    return cache.prune(keeping: keys, olderThan: minimumAge, now: now)
  }
}

extension PatternCachePruning: CustomStringConvertible {
  /// `pattern cache: removed 3 files (16.5 MB) the running rules do not use; kept 2 (11.0 MB)`, and
  /// each failure: the reload's log line.
  public var description: String {
    var text =
      "pattern cache: removed \(removedFiles) file\(removedFiles == 1 ? "" : "s") (\(Self.megabytes(removedBytes))) "
      + "the running rules do not use; kept \(keptFiles) (\(Self.megabytes(keptBytes))"
    text += recentFiles > 0 ? ", of which \(recentFiles) unused but written too recently to remove)" : ")"
    for failure in failures { text += "; \(failure)" }
    return text
  }

  /// MB to a tenth: a database of thousands of regexes is megabytes; a small one in bytes, not "0.0 MB".
  static func megabytes(_ bytes: UInt64) -> String {
    bytes < 100_000 ? "\(bytes) bytes" : String(format: "%.1f MB", Double(bytes) / 1_000_000)
  }
}

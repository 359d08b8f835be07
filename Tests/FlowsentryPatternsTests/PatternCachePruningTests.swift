import Foundation
import Testing

@testable import FlowsentryPatterns

#if canImport(Glibc)
  import Glibc
#endif

/// Pruning a cache directory to the files one set uses: only old, unused cache files go; the set's
/// own, recent ones (another process's), temporary files being written, other names and links stay.
@Suite struct PatternCachePruningTests {
  let directory = FileManager.default.temporaryDirectory.appendingPathComponent("patterns-prune-\(UUID().uuidString)")

  func write(_ name: String, bytes: Int, agedSeconds: Double) throws {
    let url = directory.appendingPathComponent(name)
    try Data(repeating: 7, count: bytes).write(to: url)
    try FileManager.default.setAttributes(
      [.modificationDate: Date(timeIntervalSinceNow: -agedSeconds)], ofItemAtPath: url.path)
  }

  func names() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() }

  @Test func onlyOldUnusedCacheFilesAreRemoved() throws {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let used = String(repeating: "a", count: 64)
    let stale = String(repeating: "b", count: 64)
    let recent = String(repeating: "c", count: 64)
    let hour = 3_600.0
    try write("\(used).hsdb", bytes: 100, agedSeconds: 30 * 24 * hour)
    try write("\(stale).hsdb", bytes: 1_000, agedSeconds: hour)
    try write("\(recent).hsdb", bytes: 10, agedSeconds: 60)
    // A killed writer's temporary file (old), and one being written now, under a used key too.
    try write("\(stale).hsdb.tmp.123.456", bytes: 5, agedSeconds: hour)
    try write("\(used).hsdb.tmp.789.1", bytes: 3, agedSeconds: 1)
    // Not the cache's names: left alone however old.
    try write("notes.txt", bytes: 1, agedSeconds: 30 * 24 * hour)
    try write("\(String(repeating: "D", count: 64)).hsdb", bytes: 1, agedSeconds: 30 * 24 * hour)
    let linked = String(repeating: "e", count: 64) + ".hsdb"
    try FileManager.default.createSymbolicLink(
      atPath: directory.appendingPathComponent(linked).path, withDestinationPath: "/etc/hostname")

    let cache = PatternDatabaseCache(directory: directory)
    let pruning = cache.prune(keeping: [used], olderThan: .seconds(600))
    #expect(pruning.removedFiles == 2 && pruning.removedBytes == 1_005, "\(pruning)")
    #expect(pruning.keptFiles == 3 && pruning.keptBytes == 113 && pruning.recentFiles == 2, "\(pruning)")
    #expect(pruning.failures.isEmpty)
    #expect(
      try names()
        == [
          "\(used).hsdb", "\(used).hsdb.tmp.789.1", "\(recent).hsdb", String(repeating: "D", count: 64) + ".hsdb",
          linked, "notes.txt",
        ].sorted())
    // Once past the grace, the recent unused files go too; the set's own file stays whatever its age.
    let later = cache.prune(keeping: [used], olderThan: .seconds(600), now: Date(timeIntervalSinceNow: 3_600))
    #expect(later.removedFiles == 2 && later.keptFiles == 1 && later.recentFiles == 0, "\(later)")
    #expect(try names() == ["\(used).hsdb", String(repeating: "D", count: 64) + ".hsdb", linked, "notes.txt"].sorted())
  }

  @Test func aMissingDirectoryHoldsNothingAndAnUnreadableOneIsSaid() throws {
    #expect(PatternDatabaseCache(directory: directory).prune(keeping: []) == PatternCachePruning())
    // A file where the directory should be: listed as a failure, not taken for an empty cache.
    try Data([1]).write(to: directory)
    defer { try? FileManager.default.removeItem(at: directory) }
    let pruning = PatternDatabaseCache(directory: directory).prune(keeping: [])
    #expect(pruning.failures.count == 1 && pruning.failures[0].hasPrefix("cannot list \(directory.path)"), "\(pruning)")
  }

  @Test func aSetNamesTheFileItWasLoadedFromOrStoredTo() throws {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let cache = PatternDatabaseCache(directory: directory)
    let set = try PatternSet([PatternSpec("evil\\.com")], cache: cache)
    let key = try #require(set.cacheKey)
    #expect(try names() == ["\(key).hsdb"])
    #expect(try PatternSet([PatternSpec("evil\\.com")], cache: cache).cacheKey == key)
    #expect(try PatternSet([PatternSpec("evil\\.com")]).cacheKey == nil)
  }
}

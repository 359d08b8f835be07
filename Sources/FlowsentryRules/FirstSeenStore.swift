import FlowsentryCore
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// What a `first_seen` rule has learned: per group (LRU-bounded, evictions counted) a bounded set
/// of values and when the group was first seen, kept in `<state_dir>/first-seen/<rule id>.json`.
///
/// The file is written whole and atomically (a temporary file, fsync, rename, fsync of the
/// directory), so a crash leaves the old state or the new one. A file that cannot be read back
/// (damaged, not this format, larger than `maximumFileBytes`) is counted and rebuilt from nothing:
/// the rule learns again. Blocking file I/O: `load` runs when the engine is built and `save` at
/// most once a `saveInterval` of event time and when the engine is told to (`RuleEngine.saveState`).
final class FirstSeenStore {
  struct Counters: Equatable {
    var groupEvictions: UInt64 = 0
    /// New values not learned because their group held `maximumValues`.
    var valuesDropped: UInt64 = 0
    var damagedFiles: UInt64 = 0
    var writeFailures: UInt64 = 0
  }

  private final class Group {
    /// The group as written in the file (`process.comm=nginx`).
    let text: String
    var since: Int64
    var values: Set<String>
    init(text: String, since: Int64, values: Set<String>) {
      self.text = text
      self.since = since
      self.values = values
    }
  }

  private struct Snapshot: Codable {
    struct Entry: Codable {
      var group: String
      var since: Int64
      var values: [String]
    }
    var version: Int
    var rule: String
    var groups: [Entry]
  }

  static let maximumFileBytes = 64 << 20
  static let saveInterval: Int64 = 60_000_000_000

  let rule: FirstSeenRule
  let ruleID: String
  /// nil: learned values live in memory only.
  let path: String?
  private(set) var counters = Counters()
  /// Keyed by the typed group values, so that an event costs no text; groups read from the file
  /// wait in `loaded`, by text, until their first event (at most `maximumGroups` of them).
  private var groups: LRUDictionary<RuleEngine.GroupKey, Group>
  private var loaded: [String: Group] = [:]
  private var dirty = false
  private var lastSave = Int64.min

  init(rule: FirstSeenRule, ruleID: String, directory: String?, maximumGroups: Int) {
    self.rule = rule
    self.ruleID = ruleID
    groups = LRUDictionary(capacity: maximumGroups)
    // The id becomes a file name: anything but letters, digits, '-', '_' and '.' is replaced.
    let name = String(
      ruleID.unicodeScalars.map {
        CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) ? Character($0) : "_"
      })
    path = directory.map { "\($0)/first-seen/\(name).json" }
    load()
  }

  /// Whether `value` is new for `group` after the group's learning period (then it is learned too).
  /// `text` names the group in the file; it is called only for a group not in memory.
  func observe(group: RuleEngine.GroupKey, text: () -> String, value: String, at time: Int64) -> Bool {
    var entry: Group
    if let existing = groups.touch(group) {
      entry = existing
    } else {
      let name = text()
      var isNew = false
      if let learned = loaded.removeValue(forKey: name) {
        entry = learned
      } else {
        entry = Group(text: name, since: time, values: [value])
        isNew = true
      }
      if groups.insert(entry, for: group) != nil { counters.groupEvictions += 1 }
      if isNew {
        markDirty(at: time)
        return false
      }
    }
    guard !entry.values.contains(value) else { return false }
    guard entry.values.count < rule.maximumValues else {
      counters.valuesDropped += 1
      return false
    }
    entry.values.insert(value)
    markDirty(at: time)
    return time.saturatingSubtraction(entry.since) >= rule.learningNanoseconds
  }

  private func markDirty(at time: Int64) {
    dirty = true
    if time.saturatingSubtraction(lastSave) >= Self.saveInterval {
      lastSave = time
      save()
    }
  }

  /// Writes the learned values if they changed since the last write.
  func save() {
    guard dirty, let path else { return }
    var entries: [Snapshot.Entry] = []
    for group in loaded.values.sorted(by: { $0.text < $1.text }) {
      entries.append(.init(group: group.text, since: group.since, values: group.values.sorted()))
    }
    var remaining = groups
    while let (_, group) = remaining.removeOldest() {
      entries.append(.init(group: group.text, since: group.since, values: group.values.sorted()))
    }
    do {
      let data = try JSONEncoder().encode(Snapshot(version: 1, rule: ruleID, groups: entries))
      try AtomicFile.write(data, to: path)
      dirty = false
    } catch {
      counters.writeFailures += 1
    }
  }

  private func load() {
    guard let path, FileManager.default.fileExists(atPath: path) else { return }
    guard let handle = FileHandle(forReadingAtPath: path) else {
      counters.damagedFiles += 1
      return
    }
    defer { try? handle.close() }
    let data = (try? handle.read(upToCount: Self.maximumFileBytes + 1)) ?? nil
    guard let data, data.count <= Self.maximumFileBytes,
      let snapshot = try? JSONDecoder().decode(Snapshot.self, from: data), snapshot.version == 1
    else {
      counters.damagedFiles += 1
      dirty = true  // rebuilt: the next save replaces the damaged file
      return
    }
    // Oldest first in the file: past `maximumGroups`, the oldest are dropped (counted).
    let kept = snapshot.groups.suffix(groups.capacity)
    counters.groupEvictions += UInt64(snapshot.groups.count - kept.count)
    for entry in kept {
      loaded[entry.group] = Group(
        text: entry.group, since: entry.since, values: Set(entry.values.prefix(rule.maximumValues)))
    }
  }
}

/// Replaces a file whole: a temporary file beside it, written and fsynced, renamed over it, and
/// the directory fsynced so that the rename itself survives a crash.
enum AtomicFile {
  struct Failure: Error {
    var operation: String
    var code: Int32
  }

  static func write(_ data: Data, to path: String) throws {
    let directory = (path as NSString).deletingLastPathComponent
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let temporary = "\(path).tmp.\(getpid())"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { throw Failure(operation: "open", code: errno) }
    var written = 0
    let result: Int32 = data.withUnsafeBytes { bytes in
      while written < bytes.count {
        let count = Glibc.write(descriptor, bytes.baseAddress! + written, bytes.count - written)
        if count < 0 {
          if errno == EINTR { continue }
          return errno
        }
        written += count
      }
      return fsync(descriptor) == 0 ? 0 : errno
    }
    let closeResult = close(descriptor)
    guard result == 0, closeResult == 0 else {
      unlink(temporary)
      throw Failure(operation: "write", code: result != 0 ? result : errno)
    }
    guard rename(temporary, path) == 0 else {
      let code = errno
      unlink(temporary)
      throw Failure(operation: "rename", code: code)
    }
    let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard directoryDescriptor >= 0 else { throw Failure(operation: "open directory", code: errno) }
    let synced = fsync(directoryDescriptor) == 0 ? 0 : errno
    guard close(directoryDescriptor) == 0, synced == 0 else {
      throw Failure(operation: "fsync directory", code: synced != 0 ? synced : errno)
    }
  }
}

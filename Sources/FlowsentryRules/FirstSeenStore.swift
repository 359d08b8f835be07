import FlowsentryCore
import Foundation

/// What a `first_seen` rule has learned: per group (LRU-bounded, evictions counted) a bounded set
/// of values and when the group was first seen, all groups together at most the rule's
/// `maximumTotalValues` (the least recently seen groups go first, counted), kept in
/// `<state_dir>/first-seen/<rule id>-<hash of the id>.json`.
///
/// The file is replaced whole and atomically by `StateFileWriter`'s thread, at most once a
/// `saveInterval` of event time and when the engine is told to (`RuleEngine.saveState`); the
/// pipeline only copies the values out (sets are shared, not copied). A file that cannot be read
/// back (damaged, not this format, another rule's, written when the rule learned another field or by
/// other groups, larger than `maximumFileBytes`) is counted and rebuilt from nothing: the rule
/// learns again. It is read when the store is made.
final class FirstSeenStore {
  struct Counters: Equatable {
    var groupEvictions: UInt64 = 0
    /// New values not learned because their group held `maximumValues`.
    var valuesDropped: UInt64 = 0
    var damagedFiles: UInt64 = 0
    /// Writes that failed, and snapshots the writer's full queue dropped.
    var writeFailures: UInt64 = 0
    var writesDropped: UInt64 = 0
  }

  final class Group {
    /// The group as written in the file (`process.comm=nginx`).
    let text: String
    var since: Int64
    /// Values seen since the store was made (typed: looking one up builds no text).
    var values: Set<FieldValue> = []
    /// Values read from the file and not seen since, as written there.
    var fromFile: Set<String> = []
    var count: Int { values.count + fromFile.count }

    init(text: String, since: Int64) {
      self.text = text
      self.since = since
    }
  }

  struct Snapshot: Codable {
    struct Entry: Codable {
      var group: String
      var since: Int64
      var values: [String]
    }
    /// What the rule learned when it wrote the file: a rule that now learns another field, by other
    /// groups or prefixes, must not take those values for its own. Absent in files written before
    /// it was kept (taken as they are).
    struct Learns: Codable, Equatable {
      var field: String
      var groupBy: [String]
      var prefixV4: Int?
      var prefixV6: Int?

      init(_ rule: FirstSeenRule) {
        field = rule.field
        groupBy = rule.groupBy
        prefixV4 = rule.prefixV4
        prefixV6 = rule.prefixV6
      }
    }
    var version: Int
    var rule: String
    var learns: Learns?
    var groups: [Entry]
  }

  static let maximumFileBytes = 64 << 20
  static let saveInterval: Int64 = 60_000_000_000

  private(set) var rule: FirstSeenRule
  let ruleID: String
  /// nil: learned values live in memory only.
  let path: String?
  private let writer: StateFileWriter
  private var outcome = StateFileWriter.Outcome()
  private(set) var counters = Counters()
  /// What `takeNewCounts` has handed out.
  private var reported = Counters()
  /// Keyed by the typed group values; groups read from the file wait in `loaded`, by text, until
  /// their first event (`loadedOrder` oldest first, from `loadedNext` on).
  private var groups: LRUDictionary<RuleEngine.GroupKey, Group>
  private var loaded: [String: Group] = [:]
  private var loadedOrder: [String] = []
  private var loadedNext = 0
  private(set) var totalValues = 0
  private var dirty = false
  private var lastSave = Int64.min

  init(
    rule: FirstSeenRule, ruleID: String, directory: String?, maximumGroups: Int,
    writer: StateFileWriter = .shared
  ) {
    self.rule = rule
    self.ruleID = ruleID
    self.writer = writer
    groups = LRUDictionary(capacity: maximumGroups)
    path = directory.map { "\($0)/first-seen/\(Self.fileName(ruleID)).json" }
    load(legacyPath: directory.map { "\($0)/first-seen/\(Self.sanitized(ruleID)).json" })
    reported.damagedFiles = counters.damagedFiles  // reported by the engine when it is made
  }

  /// The id as a file name: letters, digits, '-', '_' and '.' kept, anything else '_', and a hash
  /// of the exact id, so that two ids that read alike (`a/b`, `a:b`) never share a file.
  static func fileName(_ ruleID: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
    for byte in ruleID.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    let short = String(UInt32(truncatingIfNeeded: hash ^ (hash >> 32)), radix: 16)
    return "\(sanitized(ruleID))-\(String(repeating: "0", count: 8 - short.count))\(short)"
  }

  static func sanitized(_ ruleID: String) -> String {
    String(
      ruleID.unicodeScalars.map {
        CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0) ? Character($0) : "_"
      })
  }

  /// Whether `value` (masked to its network when the rule learns networks) is new for `group`
  /// after the group's learning period (then it is learned too). `text` names the group in the
  /// file; it is called only for a group not in memory.
  func observe(group: RuleEngine.GroupKey, text: () -> String, value field: FieldValue, at time: Int64) -> Bool {
    let value = rule.prefixV4 == nil && rule.prefixV6 == nil ? field : rule.learnedValue(field)
    let entry: Group
    if let existing = groups.touch(group) {
      entry = existing
    } else {
      let name = text()
      if let learned = takeLoaded(name) {
        entry = learned
        remember(entry, as: group)
      } else {
        entry = Group(text: name, since: time)
        entry.values.insert(value)
        totalValues += 1
        remember(entry, as: group)
        trim(keeping: entry)
        markDirty(at: time)
        return false
      }
    }
    if entry.values.contains(value) { return false }
    if !entry.fromFile.isEmpty, entry.fromFile.remove(rule.text(ofLearned: value)) != nil {
      entry.values.insert(value)
      return false
    }
    guard entry.count < rule.maximumValues else {
      counters.valuesDropped += 1
      return false
    }
    entry.values.insert(value)
    totalValues += 1
    trim(keeping: entry)
    markDirty(at: time)
    return time.saturatingSubtraction(entry.since) >= rule.learningNanoseconds
  }

  private func takeLoaded(_ name: String) -> Group? {
    guard !loaded.isEmpty else { return nil }
    return loaded.removeValue(forKey: name)
  }

  private func remember(_ entry: Group, as key: RuleEngine.GroupKey) {
    if let evicted = groups.insert(entry, for: key) {
      totalValues -= evicted.value.count
      counters.groupEvictions += 1
    }
  }

  /// Forgets the least recently seen groups (those from the file first) until the rule's values
  /// fit `maximumTotalValues`; never `keeping`, the group being learned into.
  private func trim(keeping current: Group?) {
    while totalValues > rule.maximumTotalValues {
      if loadedNext < loadedOrder.count {
        let name = loadedOrder[loadedNext]
        loadedNext += 1
        if let group = loaded.removeValue(forKey: name) {
          totalValues -= group.count
          counters.groupEvictions += 1
        }
        continue
      }
      guard let oldest = groups.oldestEntry, oldest.value !== current else { return }
      groups.removeOldest()
      totalValues -= oldest.value.count
      counters.groupEvictions += 1
    }
  }

  private func markDirty(at time: Int64) {
    dirty = true
    if time.saturatingSubtraction(lastSave) >= Self.saveInterval {
      lastSave = time
      save()
    }
  }

  /// Queues a write of the learned values if they changed since the last one; returns at once.
  func save() {
    guard dirty, let path else { return }
    // Copied out here (the groups are the pipeline's), encoded on the writer's thread.
    var entries: [(group: String, since: Int64, values: Set<FieldValue>, fromFile: Set<String>)] = []
    entries.reserveCapacity(loaded.count + groups.count)
    for name in loadedOrder[loadedNext...] {
      guard let group = loaded[name] else { continue }
      entries.append((group.text, group.since, group.values, group.fromFile))
    }
    var remaining = groups
    while let (_, group) = remaining.removeOldest() {
      entries.append((group.text, group.since, group.values, group.fromFile))
    }
    let rule = self.rule
    let ruleID = self.ruleID
    let copied = entries
    let submitted = writer.submit(path: path, outcome: outcome) {
      let groups = copied.map { entry in
        Snapshot.Entry(
          group: entry.group, since: entry.since,
          values: (entry.values.map { rule.text(ofLearned: $0) } + entry.fromFile).sorted())
      }
      return
        (try? JSONEncoder().encode(Snapshot(version: 1, rule: ruleID, learns: Snapshot.Learns(rule), groups: groups)))
        .map { Array($0) }
    }
    if submitted == .dropped {
      counters.writesDropped += 1
    } else {
      dirty = false
    }
  }

  /// Counts since the last call (the damaged file of `init` excepted: the engine reads that one).
  func takeNewCounts() -> Counters {
    counters.writeFailures = outcome.failures.load(ordering: .relaxed)
    var new = counters
    new.groupEvictions -= reported.groupEvictions
    new.valuesDropped -= reported.valuesDropped
    new.damagedFiles -= reported.damagedFiles
    new.writeFailures -= reported.writeFailures
    new.writesDropped -= reported.writesDropped
    reported = counters
    return new
  }

  var allCounts: Counters {
    var all = counters
    all.writeFailures = outcome.failures.load(ordering: .relaxed)
    return all
  }

  /// Takes over what `previous` (the same rule before a reload) learned, in memory: a reload
  /// neither reads the file back nor needs it written (a read-only state directory loses nothing).
  /// False when the rule changed what it learns (the field, the groups or the prefixes).
  func adopt(_ previous: FirstSeenStore) -> Bool {
    guard previous !== self, rule.learnsTheSameValues(as: previous.rule) else { return false }
    loaded = previous.loaded
    loadedOrder = previous.loadedOrder
    loadedNext = previous.loadedNext
    totalValues = previous.totalValues
    if groups.capacity == previous.groups.capacity {
      groups = previous.groups
    } else {
      var older = previous.groups
      var fresh = LRUDictionary<RuleEngine.GroupKey, Group>(capacity: groups.capacity)
      while let (key, group) = older.removeOldest() {
        if let evicted = fresh.insert(group, for: key) {
          totalValues -= evicted.value.count
          counters.groupEvictions += 1
        }
      }
      groups = fresh
    }
    dirty = previous.dirty
    lastSave = previous.lastSave
    // Writes the previous store queued count here, and it writes nothing more.
    outcome = previous.outcome
    counters.writeFailures = previous.reported.writeFailures
    reported.writeFailures = previous.reported.writeFailures
    previous.groups = LRUDictionary(capacity: previous.groups.capacity)
    previous.loaded = [:]
    previous.loadedOrder = []
    previous.loadedNext = 0
    previous.totalValues = 0
    previous.dirty = false
    trim(keeping: nil)
    return true
  }

  private func load(legacyPath: String?) {
    guard let path else { return }
    var source = path
    if !FileManager.default.fileExists(atPath: path) {
      // Before file names carried a hash: taken when it names this rule, written anew at the next save.
      guard let legacyPath, FileManager.default.fileExists(atPath: legacyPath),
        let snapshot = Self.read(legacyPath), snapshot.rule == ruleID
      else { return }
      source = legacyPath
      dirty = true
    }
    guard let snapshot = Self.read(source), snapshot.version == 1, snapshot.rule == ruleID,
      snapshot.learns.map({ $0 == Snapshot.Learns(rule) }) ?? true
    else {
      counters.damagedFiles += 1
      dirty = true  // rebuilt: the next save replaces the damaged file
      return
    }
    // Oldest first in the file: past the limits, the oldest are dropped (counted).
    var kept: [Group] = []
    for entry in snapshot.groups.reversed() {
      let group = Group(text: entry.group, since: entry.since)
      group.fromFile = Set(entry.values.prefix(rule.maximumValues))
      guard kept.count < groups.capacity, totalValues + group.count <= rule.maximumTotalValues,
        loaded[entry.group] == nil
      else {
        counters.groupEvictions += 1
        continue
      }
      totalValues += group.count
      loaded[entry.group] = group
      kept.append(group)
    }
    loadedOrder = kept.reversed().map(\.text)
  }

  private static func read(_ path: String) -> Snapshot? {
    guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
    defer { try? handle.close() }
    guard let data = (try? handle.read(upToCount: maximumFileBytes + 1)) ?? nil, data.count <= maximumFileBytes
    else { return nil }
    return try? JSONDecoder().decode(Snapshot.self, from: data)
  }
}

import FlowsentryCore

/// The engine's state per rule and group, shaped for the per-event path: what a rule's kind needs
/// is read out of the rule once, when the engine is made, and a group's key is built and hashed
/// once per event for every rule that groups by the same fields.
extension RuleEngine {
  /// A group's threshold window, held in its LRU node and changed there in place (`add` through
  /// `updateIfPresent`): reading it costs no pointer chase to an object of its own, and a group
  /// seen with one `distinct` value, or not yet sampled, allocates nothing.
  struct Window {
    var times: [Int64] = []
    var distinct = DistinctTimes()
    var aggregate = SlicedAggregate()
    /// When the oldest distinct value was last seen, to prune only when something expired.
    var oldestDistinct = Int64.max
    /// The most recent matching events, a ring of at most `capacity`, and the time each was counted at.
    var sample: [SensorEvent] = []
    var sampleTimes: [Int64] = []
    var next = 0
    /// Matching events counted since the group was last quiet for a whole window (or made).
    var matched = 0
    /// When the last matching event was counted.
    var newest = Int64.min

    /// Counts one matching event of the rule `state` at `time` and returns the window's count;
    /// samples the event unless it is too far from any alert to be in one (`sampledAboveCount`).
    mutating func add(
      _ event: SensorEvent, _ fields: EventFields, at time: Int64, for state: RuleState, sampling capacity: Int
    ) -> Int {
      let since = time.saturatingSubtraction(state.windowNanoseconds)
      // Everything the group holds is older than the window: it starts again, so that an alert
      // neither lists nor counts as left out the events of an earlier burst (an hour-old event in an
      // alert of "3 connections in 5s" was its first event, and its id was hashed from it).
      if newest <= since && matched > 0 {
        matched = 0
        sample.removeAll(keepingCapacity: true)
        sampleTimes.removeAll(keepingCapacity: true)
        next = 0
      }
      newest = max(newest, time)
      matched += 1
      let count: Int
      switch state.behaviour {
      case .count:
        if let first = times.first, first <= since { times.removeAll { $0 <= since } }
        times.append(time)
        count = times.count
      case .distinct:
        if oldestDistinct <= since { oldestDistinct = distinct.forget(through: since) }
        distinct.record(state.distinctValue(fields), at: time)
        oldestDistinct = min(oldestDistinct, time)
        count = distinct.count
      default:
        let total = aggregate.add(
          state.measuredAmount(fields), at: time, window: state.windowNanoseconds,
          keepingMaximum: state.behaviour == .maximum)
        count = Int(clamping: total)
      }
      if count > state.sampledAboveCount { remember(event, at: time, capacity: capacity) }
      return count
    }

    mutating func remember(_ event: SensorEvent, at time: Int64, capacity: Int) {
      if sample.count < capacity {
        sample.append(event)
        sampleTimes.append(time)
      } else if capacity > 0 {
        sample[next] = event
        sampleTimes[next] = time
        next = next + 1 == capacity ? 0 : next + 1
      }
    }

    /// The sampled events of the window that ends at `time` (counted after `time - windowNanoseconds`,
    /// as the counts are), oldest first, and how many matching events of that window the sample left
    /// out. Exact for `count`, whose count is the window's events. For the other kinds, none when
    /// the window's sampled events do not fill the ring (an event left unsampled has a full ring of
    /// the window's events after it); else at most the events counted since the group was last
    /// quiet for a whole window, less those kept (events of that stretch older than the window are
    /// counted too: the kinds keep no time per event).
    func fired(at time: Int64, windowNanoseconds: Int64, count: Int, capacity: Int, counting behaviour: Behaviour)
      -> (events: [SensorEvent], leftOut: Int)
    {
      let since = time.saturatingSubtraction(windowNanoseconds)
      let events = (Array(next..<sample.count) + Array(0..<next)).filter { sampleTimes[$0] > since }.map { sample[$0] }
      if behaviour == .count { return (events, max(0, count - events.count)) }
      return (events, events.count < capacity ? 0 : max(0, matched - events.count))
    }
  }

  /// Group-by values, typed; the common one- and two-field keys need no array.
  struct GroupKey: Hashable {
    var first: FieldValue
    var second: FieldValue
    var rest: [FieldValue]

    init(_ values: [FieldValue]) {
      first = values.first ?? .missing
      second = values.count > 1 ? values[1] : .missing
      rest = values.count > 2 ? Array(values[2...]) : []
    }

    init(_ fields: [Field], _ event: EventFields) {
      switch fields.count {
      case 0: self.init(first: .missing, second: .missing)
      case 1: self.init(first: Fields.value(fields[0], of: event), second: .missing)
      case 2: self.init(first: Fields.value(fields[0], of: event), second: Fields.value(fields[1], of: event))
      default: self.init(fields.map { Fields.value($0, of: event) })
      }
    }

    /// From the fields' accessors alone (the per-event path: no `Field` is copied). Inlined: a
    /// call of its own took `event` owned, a retain and a release per key.
    @inline(__always)
    init(_ accessors: UnsafeBufferPointer<Field.Accessor>, _ event: EventFields) {
      switch accessors.count {
      case 0: self.init(first: .missing, second: .missing)
      case 1: self.init(first: Fields.value(accessors[0], of: event), second: .missing)
      case 2: self.init(first: Fields.value(accessors[0], of: event), second: Fields.value(accessors[1], of: event))
      default: self.init(accessors.map { Fields.value($0, of: event) })
      }
    }

    private init(first: FieldValue, second: FieldValue) {
      self.first = first
      self.second = second
      rest = []
    }
  }

  struct Suppression {
    var lastAlert: Int64
    var folded: Int
  }

  /// What a rule does with a matching event, decided once from its kind.
  enum Behaviour {
    case alert, count, distinct, sum, maximum, beacon, firstSeen
  }

  /// A class, so that evaluating a rule never copies it.
  final class RuleState {
    let rule: Rule
    /// Its `regexLimitHits` are those before a reload: the compiled regexes count from zero.
    /// Unchecked as the engine's counters (RuleEngine.swift). The LRUs are hashed by
    /// `GroupKey.tableHash`, which every call on them passes.
    @exclusivity(unchecked) var counters: RuleCounters
    @exclusivity(unchecked) var windows: LRUDictionary<GroupKey, Window>
    @exclusivity(unchecked) var suppressions: LRUDictionary<GroupKey, Suppression>
    @exclusivity(unchecked) var beacons: LRUDictionary<GroupKey, BeaconHistory>
    let learned: FirstSeenStore?
    /// A beacon rule's thresholds, without its group-by names: read per event, a copy of the rule's
    /// own would retain and release them.
    let beaconLimits: BeaconRule?
    /// Read from `rule` once: the per-event path reads these plain values, not the rule's optionals.
    let behaviour: Behaviour
    let windowNanoseconds: Int64
    let atLeast: Int
    /// A `count` or `distinct` window samples an event only when its count after it is above this.
    /// Each matching event adds at most one to such a count, so after an event leaving it at c the
    /// alert is at least `atLeast` − c events away; when that is `maximumEventsPerAlert` or more,
    /// the event cannot be among the alert's last `maximumEventsPerAlert`, and copying it into the
    /// ring would be undone before anyone reads it. `Int.min` (sample every event) for `sum`/`max`.
    let sampledAboveCount: Int
    let suppressWindowNanoseconds: Int64
    /// A key suppressing by indicator holds it in the second slot, which fewer than two
    /// `suppress: {by:}` fields leave empty, rather than in an array of its own.
    let indicatorKeyedInline: Bool
    let suppressByIndicator: Bool
    /// Indexes of the group-by and suppress-by field lists in the engine's `GroupKeyCache`.
    let grouping: Int
    let suppressGrouping: Int
    /// How to read the field a `distinct` threshold counts, or a `sum`/`max` threshold measures:
    /// the accessor alone, as a copy of the whole `Field` would retain its texts on every event.
    private let measuredAccessor: Field.Accessor?

    init(rule: Rule, configuration: Configuration, groupings: inout [[Field]]) {
      self.rule = rule
      counters = RuleCounters(ruleID: rule.id)
      windows = LRUDictionary(capacity: configuration.maximumGroupsPerRule)
      suppressions = LRUDictionary(capacity: configuration.maximumGroupsPerRule)
      beacons = LRUDictionary(capacity: configuration.maximumGroupsPerRule)
      learned = rule.firstSeen.map {
        FirstSeenStore(
          rule: $0, ruleID: rule.id, directory: configuration.stateDirectory,
          maximumGroups: configuration.maximumGroupsPerRule)
      }
      beaconLimits = rule.beacon.map { beacon in
        var limits = beacon
        limits.groupBy = []
        return limits
      }
      if rule.beacon != nil {
        behaviour = .beacon
      } else if rule.firstSeen != nil {
        behaviour = .firstSeen
      } else if let threshold = rule.threshold {
        switch threshold.measure {
        case .count: behaviour = .count
        case .distinct: behaviour = .distinct
        case .sum: behaviour = .sum
        case .maximum: behaviour = .maximum
        }
      } else {
        behaviour = .alert
      }
      windowNanoseconds = rule.threshold?.windowNanoseconds ?? 0
      atLeast = rule.threshold?.atLeast ?? 0
      let leastToSample = atLeast.subtractingReportingOverflow(configuration.maximumEventsPerAlert)
      let bounded = (behaviour == .count || behaviour == .distinct) && !leastToSample.overflow
      sampledAboveCount = bounded ? leastToSample.partialValue : .min
      suppressWindowNanoseconds = rule.suppressWindowNanoseconds
      indicatorKeyedInline = rule.suppressFields.count < 2
      suppressByIndicator = rule.suppressByIndicator
      grouping = GroupKeyCache.index(of: rule.groupFields, in: &groupings)
      suppressGrouping = GroupKeyCache.index(of: rule.suppressFields, in: &groupings)
      measuredAccessor = rule.distinctField?.accessor
    }

    /// The value a `distinct` threshold counts in `fields`.
    func distinctValue(_ fields: EventFields) -> FieldValue {
      guard let measuredAccessor else { return .missing }
      return Fields.value(measuredAccessor, of: fields)
    }

    /// The amount a `sum`/`max` threshold measures in `fields`.
    func measuredAmount(_ fields: EventFields) -> UInt64 {
      guard let measuredAccessor else { return 0 }
      return Fields.amount(measuredAccessor, of: fields)
    }
  }
}

/// The group keys of the event under way, one per distinct list of group-by (or suppress-by)
/// fields among the rules, each built and hashed at its first use in the event. Not thread-safe,
/// as the engine; its slots are allocated once.
final class GroupKeyCache {
  /// Each grouping's accessors, in buffers of their own: reading one retains no array.
  private let groupings: UnsafeMutableBufferPointer<UnsafeMutableBufferPointer<Field.Accessor>>
  private let keys: UnsafeMutablePointer<RuleEngine.GroupKey>
  private let hashes: UnsafeMutablePointer<Int>
  private let stamps: UnsafeMutablePointer<UInt64>
  /// The event under way; a slot holds its key when its stamp is this.
  @exclusivity(unchecked) private var event: UInt64 = 1

  init(groupings: [[Field]]) {
    self.groupings = .allocate(capacity: groupings.count)
    for (index, fields) in groupings.enumerated() {
      let accessors = UnsafeMutableBufferPointer<Field.Accessor>.allocate(capacity: fields.count)
      _ = accessors.initialize(from: fields.map(\.accessor))
      self.groupings.initializeElement(at: index, to: accessors)
    }
    let count = max(1, groupings.count)
    keys = .allocate(capacity: count)
    keys.initialize(repeating: RuleEngine.GroupKey([]), count: count)
    hashes = .allocate(capacity: count)
    hashes.initialize(repeating: 0, count: count)
    stamps = .allocate(capacity: count)
    stamps.initialize(repeating: 0, count: count)
  }

  deinit {
    for accessors in groupings {
      accessors.deinitialize()
      accessors.deallocate()
    }
    groupings.deallocate()
    keys.deinitialize(count: max(1, groupings.count))
    keys.deallocate()
    hashes.deallocate()
    stamps.deallocate()
  }

  /// The position of `fields` (by name) in `groupings`, appended when new.
  static func index(of fields: [Field], in groupings: inout [[Field]]) -> Int {
    let names = fields.map(\.name)
    if let known = groupings.firstIndex(where: { $0.map(\.name) == names }) { return known }
    groupings.append(fields)
    return groupings.count - 1
  }

  /// Forgets the keys of the previous event.
  func nextEvent() { event &+= 1 }

  /// The key of `grouping` in the event under way (`fields`) and its `tableHash`.
  func key(_ grouping: Int, _ fields: EventFields) -> (key: RuleEngine.GroupKey, hash: Int) {
    if stamps[grouping] != event {
      let key = RuleEngine.GroupKey(UnsafeBufferPointer(groupings[grouping]), fields)
      hashes[grouping] = key.tableHash
      keys[grouping] = key
      stamps[grouping] = event
    }
    return (keys[grouping], hashes[grouping])
  }
}

/// A `distinct` threshold's values, each with when it was last seen. The first value is kept
/// inline and a table made only for a second: a group that shows one value (a remote reached on
/// one port) hashes nothing and allocates no table.
struct DistinctTimes {
  private var only: FieldValue?
  private var onlyTime: Int64 = 0
  /// Every value, once there were two (until emptied by expiry).
  private var table: [FieldValue: Int64] = [:]

  var count: Int { table.isEmpty ? (only == nil ? 0 : 1) : table.count }

  /// Records `value` as last seen at `time` (replacing its previous time, as a dictionary would).
  mutating func record(_ value: FieldValue, at time: Int64) {
    if table.isEmpty {
      guard let known = only, known != value else {
        only = value
        onlyTime = time
        return
      }
      table[known] = onlyTime
      only = nil
    }
    table[value] = time
  }

  /// Forgets the values last seen at or before `since`; returns when the oldest left was seen
  /// (`Int64.max` when none is).
  mutating func forget(through since: Int64) -> Int64 {
    if table.isEmpty {
      if only != nil, onlyTime <= since { only = nil }
      return only == nil ? .max : onlyTime
    }
    table = table.filter { $0.value > since }
    return table.values.min() ?? .max
  }
}

import FlowsentryCore

/// Evaluates events against a rule set and raises alerts. Single-threaded: the pipeline task owns it.
/// Event times may be any Int64 (a recording's clamped or hostile timestamps): all time arithmetic
/// saturates, so that a window never traps; events out of order only shorten or lengthen windows.
/// A class: its windows and suppressions are state that a copy must not fork.
///
/// Threshold state is kept per rule and group in an LRU bounded by `maximumGroupsPerRule`, so a
/// flood of spoofed sources costs evictions (counted), not memory.
public final class RuleEngine {
  public struct Configuration: Sendable {
    public var maximumGroupsPerRule = 10_000
    public var maximumEventsPerAlert = 20
    /// Where `first_seen` rules keep what they learned (`state_dir`); nil keeps it in memory only.
    public var stateDirectory: String?
    /// Regex tests through per-field pattern sets (Hyperscan, confirmed by PCRE2) and the rule index;
    /// false keeps a set not yet prepared on PCRE2 alone, one regex at a time (the reference the
    /// differential test and the benchmark compare with).
    public var patternSets = true
    public init() {}
  }

  public struct Counters: Sendable, Equatable {
    public var events: UInt64 = 0
    public var matches: UInt64 = 0
    public var alerts: UInt64 = 0
    /// Alerts folded by suppression (reported in the next alert of the same key).
    public var suppressed: UInt64 = 0
    /// Threshold groups forgotten because a rule had too many at once.
    public var groupEvictions: UInt64 = 0
    /// `first_seen` state files that could not be read back and were rebuilt, and failed writes.
    public var stateFilesDamaged: UInt64 = 0
    public var stateWriteFailures: UInt64 = 0
    /// New `first_seen` values not learned because their group was full.
    public var firstSeenValuesDropped: UInt64 = 0
    /// Compiled pattern databases loaded from `state_dir/patterns`, and built because none was
    /// there (or it was damaged), over the loads this engine and those it continues prepared.
    public var patternCacheHits: UInt64 = 0
    public var patternCacheMisses: UInt64 = 0
    /// Of the misses, cache files found damaged; and databases the cache could not store.
    public var patternCacheDamaged: UInt64 = 0
    public var patternCacheWriteFailures: UInt64 = 0
    public init() {}
  }

  /// One rule's counters; they outlive a reload for the rules the new set keeps (by id).
  public struct RuleCounters: Sendable, Equatable {
    public var ruleID: String
    public var matches: UInt64 = 0
    public var alerts: UInt64 = 0
    public var suppressed: UInt64 = 0
    /// Regex matches a limit stopped (counted as no match).
    public var regexLimitHits: UInt64 = 0
  }

  public let configuration: Configuration
  // Unchecked, as the per-event state of RuleState and BeaconHistory: the engine is single-threaded
  // and no access to them overlaps another, and the run-time check a class's stored `var` costs
  // is a call per access, on every event.
  @exclusivity(unchecked) public internal(set) var counters = Counters()
  /// What the set's typed lists hold (indicators, malformed lines, memory), for their gauges.
  public let intelLists: [IntelListSummary]
  private let states: [RuleState]
  /// The rules' predicates, apart from their state, so that testing one touches nothing else.
  private let matchers: [Matcher]
  /// `matchers`, unretained: a closure read out of an array is retained for its call, on every
  /// event and rule; `matchers` keeps them alive.
  private let matchersInPlace: [Unmanaged<Matcher>]
  /// `states`, unretained, for the same reason: a state read out of `states` for a matching event
  /// costs a retain and a release, on a line the rule's counters write.
  private let statesInPlace: [Unmanaged<RuleState>]
  /// A predicate in a class: an array of bare closures holds them in their generic form, and each
  /// call would go through a conversion thunk.
  private final class Matcher {
    let matches: Predicate
    init(matches: @escaping Predicate) { self.matches = matches }
  }
  /// Refilled for each event instead of allocated.
  private let scratch = EventFields.blank()
  /// Which rules each event is tested against (RuleIndex.swift).
  private let ruleIndex: RuleIndex
  /// Its buckets, unretained (`ruleIndex` keeps them): a bucket read out of the array costs a
  /// retain and a release around every event that has rules to test.
  private let bucketsInPlace: [Unmanaged<RuleIndex.Bucket>]
  /// The rules selected for the event under way: room for every rule, allocated once.
  private let selected: UnsafeMutableBufferPointer<Int>
  /// The group keys of the event under way.
  let groupKeys: GroupKeyCache

  /// `continuing`: the engine this one replaces (a reload), whose counters and first-seen state go
  /// on here; its thresholds and suppressions do not.
  public init(rules: RuleSet, configuration: Configuration = Configuration(), continuing previous: RuleEngine? = nil) {
    self.configuration = configuration
    intelLists = rules.intelLists
    var groupings: [[Field]] = []
    let states = rules.rules.filter(\.enabled).map {
      RuleState(rule: $0, configuration: configuration, groupings: &groupings)
    }
    groupKeys = GroupKeyCache(groupings: groupings)
    if let previous {
      counters = previous.counters
      let before = Dictionary(previous.perRule.map { ($0.ruleID, $0) }, uniquingKeysWith: { first, _ in first })
      for state in states {
        if let counters = before[state.rule.id] { state.counters = counters }
      }
    }
    self.states = states
    for store in states.compactMap(\.learned) { counters.stateFilesDamaged += store.counters.damagedFiles }
    matchers = states.map { Matcher(matches: $0.rule.matcher) }
    matchersInPlace = matchers.map { Unmanaged.passUnretained($0) }
    statesInPlace = states.map { Unmanaged.passUnretained($0) }
    // Built here only when the loader did not (RuleSet.preparePatterns), with the cache under state_dir.
    let cacheDirectory = configuration.stateDirectory.map { RuleSet.patternCacheDirectory(stateDirectory: $0) }
    for index in rules.patternIndexes where configuration.patternSets {
      _ = index.prepare(cacheDirectory: cacheDirectory)
      if let outcome = index.takeOutcomeForCounting() {
        counters.patternCacheHits &+= outcome.cacheHits
        counters.patternCacheMisses &+= outcome.cacheMisses
        counters.patternCacheDamaged &+= outcome.cacheDamaged
        counters.patternCacheWriteFailures &+= outcome.cacheWriteFailures
      }
    }
    ruleIndex = RuleIndex(rules: states.map(\.rule))
    bucketsInPlace = ruleIndex.buckets.map { Unmanaged.passUnretained($0) }
    selected = .allocate(capacity: max(1, states.count))
    if let previous { adoptBehaviourState(from: previous) }
  }

  deinit { selected.deallocate() }

  public var ruleCount: Int { states.count }
  /// A beaconing alert's measurements, from `evaluateBehaviour` to the alert it raises.
  @exclusivity(unchecked) var pendingMeasurements: [(name: String, value: Double)] = []
  var learnedStores: [FirstSeenStore] { states.compactMap(\.learned) }

  /// Each enabled rule's counters, in the rule set's order.
  public var perRule: [RuleCounters] {
    states.map { state in
      var counters = state.counters
      counters.regexLimitHits += state.rule.regexLimitHits
      return counters
    }
  }

  /// Regex matches a limit stopped, by rule id: only the rules that hit one.
  public var regexLimitHits: [String: UInt64] {
    Dictionary(perRule.filter { $0.regexLimitHits > 0 }.map { ($0.ruleID, $0.regexLimitHits) }, uniquingKeysWith: +)
  }

  /// Evaluates one event; appends the alerts it raises.
  public func process(_ event: SensorEvent, at time: Int64, into alerts: inout [Alert]) {
    counters.events += 1
    let bucket = bucketsInPlace.withUnsafeBufferPointer { $0[event.gateBucket] }
    bucket._withUnsafeGuaranteedRef { bucket in
      guard !bucket.all.isEmpty else { return }
      let fields = scratch
      fields.load(event)
      groupKeys.nextEvent()
      if bucket.gated.isEmpty {
        test(UnsafeBufferPointer(bucket.all), fields, event, at: time, into: &alerts)
      } else {
        let count = ruleIndex.select(bucket, fields, into: selected)
        test(UnsafeBufferPointer(rebasing: selected[..<count]), fields, event, at: time, into: &alerts)
      }
    }
  }

  private func test(
    _ candidates: UnsafeBufferPointer<Int>, _ fields: EventFields, _ event: SensorEvent, at time: Int64,
    into alerts: inout [Alert]
  ) {
    matchersInPlace.withUnsafeBufferPointer { matchers in
      statesInPlace.withUnsafeBufferPointer { states in
        for index in candidates where matchers[index]._withUnsafeGuaranteedRef({ $0.matches(fields) }) {
          counters.matches += 1
          let alert = states[index]._withUnsafeGuaranteedRef { state in
            state.counters.matches += 1
            return evaluate(state, fields, event, at: time)
          }
          if let alert { alerts.append(alert) }
        }
      }
    }
  }

  /// Counts the event in its group's window, made when new (the full LRU evicting its least
  /// recently used group, counted); returns the count, and the window when it fired, removed so
  /// that a storm yields one alert per window, not one per event.
  private func window(
    _ state: RuleState, _ groupKey: GroupKey, _ hash: Int, adding event: SensorEvent, _ fields: EventFields,
    at time: Int64
  ) -> (count: Int, fired: Window?) {
    let capacity = configuration.maximumEventsPerAlert
    var count = 0
    let present = state.windows.updateIfPresent(groupKey, hashValue: hash) { window in
      count = window.add(event, fields, at: time, for: state, sampling: capacity)
      return true
    }
    if present == nil {
      if state.windows.count == state.windows.capacity, state.windows.removeOldest() != nil {
        counters.groupEvictions += 1
      }
      var window = Window()
      count = window.add(event, fields, at: time, for: state, sampling: capacity)
      state.windows.insert(window, for: groupKey, hashValue: hash)
    }
    guard count >= state.atLeast else { return (count, nil) }
    return (count, state.windows.removeValue(for: groupKey, hashValue: hash))
  }

  private func evaluate(_ state: RuleState, _ fields: EventFields, _ event: SensorEvent, at time: Int64)
    -> Alert?
  {
    // The rule is read through `state` until an alert is due: a copy of it costs a retain per
    // reference it holds, on every event. Its kind and numbers are plain values of `state`. What
    // only the alert carries (its events, the indicator's description) is taken after the
    // suppression, so that a folded alert builds none of it; and in `raise`, out of line, so that
    // the events that only count in a window or a history set up none of the alert's locals.
    if !pendingMeasurements.isEmpty { pendingMeasurements = [] }
    switch state.behaviour {
    case .beacon, .firstSeen:
      let (groupKey, hash) = groupKeys.key(state.grouping, fields)
      guard let raised = evaluateBehaviour(state, groupKey, hash, fields, event, at: time) else { return nil }
      return raise(
        state, fields, event, at: time, count: raised.count, events: raised.events,
        measurements: raised.measurements)
    case .count, .distinct, .sum, .maximum:
      let (groupKey, hash) = groupKeys.key(state.grouping, fields)
      let added = window(state, groupKey, hash, adding: event, fields, at: time)
      guard let fired = added.fired else { return nil }
      return raise(state, fields, event, at: time, count: added.count, window: fired)
    case .alert:
      return raise(state, fields, event, at: time, count: 1)
    }
  }

  /// The alert of a rule that fired on this event, or nil when its suppression folds it (counted).
  @inline(never)
  private func raise(
    _ state: RuleState, _ fields: EventFields, _ event: SensorEvent, at time: Int64, count: Int,
    events behaviourEvents: [SensorEvent]? = nil, measurements: [String: String] = [:],
    window firedWindow: Window? = nil
  ) -> Alert? {
    // A suppression keyed by indicator needs only its name: the alert's `IntelIndicatorMatch` is
    // built once an alert is due, not for a folded event.
    var folded = 0
    if state.suppressWindowNanoseconds > 0 {
      var (suppressKey, suppressHash) = groupKeys.key(state.suppressGrouping, fields)
      if state.suppressByIndicator {
        // The indicator the alert would name (the highest-severity list's): key and alert agree.
        let named = FieldValue.string(
          IntelTerm.firstIndicator(state.rule.intelTerms, fields, ruleSeverity: state.rule.severity) ?? "")
        if state.indicatorKeyedInline {
          suppressKey.second = named
        } else {
          suppressKey.rest.append(named)
        }
        suppressHash = suppressKey.tableHash
      }
      let window = state.suppressWindowNanoseconds
      var folds = false
      // One lookup when the key is present; it becomes the most recently used either way.
      let present = state.suppressions.updateIfPresent(suppressKey, hashValue: suppressHash) { suppression in
        if time.saturatingSubtraction(suppression.lastAlert) < window {
          suppression.folded += 1
          folds = true
        } else {
          folded = suppression.folded
          suppression = Suppression(lastAlert: time, folded: 0)
        }
        return true
      }
      if folds {
        counters.suppressed += 1
        state.counters.suppressed += 1
        return nil
      }
      if present == nil {
        state.suppressions.insert(Suppression(lastAlert: time, folded: 0), for: suppressKey, hashValue: suppressHash)
      }
    }

    let rule = state.rule
    let indicator =
      rule.intelTerms.isEmpty ? nil : IntelTerm.firstMatch(rule.intelTerms, fields, ruleSeverity: rule.severity)
    let events: [SensorEvent]
    var leftOut = 0
    if let firedWindow {
      (events, leftOut) = firedWindow.fired(
        at: time, windowNanoseconds: state.windowNanoseconds, count: count,
        capacity: configuration.maximumEventsPerAlert, counting: state.behaviour)
    } else {
      events = behaviourEvents ?? [event]
    }
    counters.alerts += 1
    state.counters.alerts += 1
    let window = rule.threshold?.windowNanoseconds
    let groupValues = rule.groupFields.map { ($0.name, Fields.value($0, of: fields).text) }
    let groupText = groupValues.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
    var alert = Alert(
      // Named by the pipeline, which knows the sensor (StableIdentifier.alert: host, rule, group, time).
      id: "", timestamp: event.timestamp,
      ruleID: rule.id, ruleName: rule.name, severity: indicator?.severity ?? rule.severity, tags: rule.tags,
      message: rule.output.template(for: event.eventName).render(
        event: fields, count: count, windowNanoseconds: window ?? 0, group: groupText, measurements: measurements,
        indicator: indicator?.match),
      group: groupValues.map { (field: $0.0, value: $0.1) }, count: count, windowNanoseconds: window,
      suppressed: folded, events: events, eventsLeftOut: leftOut, ruleDescription: rule.description,
      ruleReferences: rule.references, indicator: indicator?.match)
    alert.measurements = pendingMeasurements
    return alert
  }

}

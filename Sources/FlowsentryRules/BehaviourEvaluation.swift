import FlowsentryCore

/// Beaconing and first-seen rules: their state per group, and what their alerts carry.
extension RuleEngine {
  typealias Raised = (events: [SensorEvent], count: Int, measurements: [String: String])

  /// The alert's events, count and measurements when the rule fires on this event, else nil.
  func evaluateBehaviour(
    _ state: RuleState, _ groupKey: GroupKey, _ hash: Int, _ fields: EventFields, _ event: SensorEvent,
    at time: Int64
  ) -> Raised? {
    // Fields read through `state.rule`, never a copy of the whole rule (one retain per reference in it).
    if state.behaviour == .beacon, let beacon = state.beaconLimits {
      // `hash`: hashed once for the group's history and its suppression. The history is used in
      // its node (`updateIfPresent`): one read out of the LRU costs a retain and a release, the
      // retain a write to a history seldom in the cache. `record` must not touch `state.beacons`:
      // the node is borrowed for the closure, and the table's exclusivity is not checked at run time.
      var raised: Raised?
      let present = state.beacons.updateIfPresent(groupKey, hashValue: hash) { history in
        raised = record(state, beacon, history, fields, event, at: time)
        return true
      }
      if present == nil {
        // The group a full LRU evicts leaves its history, emptied, to this one.
        var reused: BeaconHistory?
        if state.beacons.count == state.beacons.capacity, let evicted = state.beacons.removeOldest() {
          counters.groupEvictions += 1
          evicted.value.reset()
          reused = evicted.value
        }
        let history = reused ?? BeaconHistory()
        state.beacons.insert(history, for: groupKey, hashValue: hash)
        raised = record(state, beacon, history, fields, event, at: time)
      }
      return raised
    }
    if let store = state.learned, let field = state.rule.firstSeenField {
      let value = Fields.value(field, of: fields)
      guard value != .missing else { return nil }
      let isNew = store.observe(
        group: groupKey,
        text: {
          state.rule.groupFields.map { "\($0.name)=\(Fields.value($0, of: fields).text)" }.joined(separator: ",")
        },
        value: value, at: time)
      absorb(store.takeNewCounts())
      guard isNew else { return nil }
      return ([event], 1, [:])
    }
    return nil
  }

  /// Records a connection in its group's `history`; the alert's events, count and measurements
  /// when the group beacons and no suppression folds its alert.
  private func record(
    _ state: RuleState, _ beacon: BeaconRule, _ history: BeaconHistory, _ fields: EventFields,
    _ event: SensorEvent, at time: Int64
  ) -> Raised? {
    let bytes = fields.volume.map { $0.bytesSent.saturatingAddition($0.bytesReceived) }
    history.record(
      at: time, bytes: bytes, event: event, minimumConnections: beacon.minimumConnections,
      minimumPeriodNanoseconds: beacon.minimumPeriodNanoseconds)
    guard let shape = history.intervalShape(for: beacon) else { return nil }
    // Scored before the suppression is looked up: most groups do not beacon and need no lookup.
    // The least score (intervals alone) decides without the sizes when it reaches the minimum;
    // the score is at least it, so this folds and raises exactly what the score alone would.
    var scored: BeaconScore?
    if history.leastScore(intervals: shape) < beacon.minimumScore {
      let score = history.score(intervals: shape)
      guard score.score >= beacon.minimumScore else { return nil }
      scored = score
    }
    // A group that keeps beaconing: its alert is folded and counted here, as the engine would,
    // without building it or the group's key again, in one lookup of its suppression.
    if foldIfSuppressed(state, fields, at: time) { return nil }
    let score = scored ?? history.score(intervals: shape)
    let measured: [String: String] = [
      "score": String(format2(score.score)),
      "period": Duration.describeMilliseconds(score.periodMilliseconds),
      "jitter": Duration.describeMilliseconds(score.jitterMilliseconds),
    ]
    pendingMeasurements = [
      ("score", score.score), ("period_ms", score.periodMilliseconds), ("jitter_ms", score.jitterMilliseconds),
    ]
    return (history.events, history.connections, measured)
  }

  /// Folds an alert of this event into its running suppression (the same key and window as
  /// `evaluate`'s) and counts it, as `evaluate` does; false when none is running.
  private func foldIfSuppressed(_ state: RuleState, _ fields: EventFields, at time: Int64) -> Bool {
    let window = state.suppressWindowNanoseconds
    guard window > 0, !state.rule.suppressByIndicator else { return false }
    // The group's own key when the rule suppresses by its group (the cache built it already).
    let (key, hash) = groupKeys.key(state.suppressGrouping, fields)
    // Most recently used when folded, as `evaluate`'s touch and insert leave it.
    let folded = state.suppressions.updateIfPresent(key, hashValue: hash) { suppression in
      guard time.saturatingSubtraction(suppression.lastAlert) < window else { return false }
      suppression.folded += 1
      return true
    }
    guard folded == true else { return false }
    counters.suppressed += 1
    state.counters.suppressed += 1
    return true
  }

  private func absorb(_ new: FirstSeenStore.Counters) {
    counters.groupEvictions += new.groupEvictions
    counters.firstSeenValuesDropped += new.valuesDropped
    counters.stateFilesDamaged += new.damagedFiles
    counters.stateWriteFailures += new.writeFailures + new.writesDropped
  }

  /// Writes what `first_seen` rules learned since their last write and waits until it is on disk
  /// (at shutdown).
  public func saveState() {
    for store in learnedStores { store.save() }
    StateFileWriter.shared.flush()
    for store in learnedStores { absorb(store.takeNewCounts()) }
  }

  /// Takes over what the engine being replaced (a reload) learned, in memory, for each
  /// `first_seen` rule the new set keeps (by id, learning the same field by the same groups):
  /// nothing is read back from disk, so a read-only state directory forgets nothing. What rules
  /// left out learned is queued for writing.
  func adoptBehaviourState(from previous: RuleEngine) {
    var before: [String: FirstSeenStore] = [:]
    for store in previous.learnedStores { before[store.ruleID] = store }
    for store in learnedStores {
      guard let old = before[store.ruleID], store.adopt(old) else { continue }
      absorb(store.takeNewCounts())
      before[store.ruleID] = nil
    }
    for store in before.values { store.save() }
  }
}
private func format2(_ value: Double) -> String {
  let hundredths = Int((value * 100).rounded())
  return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
}

extension Duration {
  /// "2.05s", "850ms", "15m" for a beacon's period and jitter.
  static func describeMilliseconds(_ milliseconds: Double) -> String {
    if milliseconds >= 60_000 { return "\(Int((milliseconds / 60_000).rounded()))m" }
    if milliseconds >= 1_000 { return "\(format2(milliseconds / 1_000))s" }
    return "\(Int(milliseconds.rounded()))ms"
  }
}

import FlowsentryCore

/// Beaconing and first-seen rules: their state per group, and what their alerts carry.
extension RuleEngine {
  typealias Raised = (events: [SensorEvent], count: Int, measurements: [String: String])

  /// The alert's events, count and measurements when the rule fires on this event, else nil.
  func evaluateBehaviour(
    _ state: RuleState, _ groupKey: GroupKey, _ fields: EventFields, _ event: SensorEvent, at time: Int64
  ) -> Raised? {
    let rule = state.rule
    if let beacon = rule.beacon {
      let history: BeaconHistory
      if let existing = state.beacons.touch(groupKey) {
        history = existing
      } else {
        history = BeaconHistory()
        if state.beacons.insert(history, for: groupKey) != nil { counters.groupEvictions += 1 }
      }
      let bytes = fields.volume.map { $0.bytesSent.saturatingAddition($0.bytesReceived) }
      history.record(at: time, bytes: bytes, event: event)
      guard let score = history.score(for: beacon, at: time), score.score >= beacon.minimumScore else { return nil }
      history.quietUntil = time.saturatingAddition(beacon.suppressNanoseconds)
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
    if let firstSeen = rule.firstSeen, let store = state.learned, let field = rule.firstSeenField {
      let value = Fields.value(field, of: fields)
      guard value != .missing else { return nil }
      let before = store.counters
      let isNew = store.observe(
        group: groupKey,
        text: { rule.groupFields.map { "\($0.name)=\(Fields.value($0, of: fields).text)" }.joined(separator: ",") },
        value: firstSeen.learnedText(value), at: time)
      counters.groupEvictions += store.counters.groupEvictions - before.groupEvictions
      counters.firstSeenValuesDropped += store.counters.valuesDropped - before.valuesDropped
      counters.stateWriteFailures += store.counters.writeFailures - before.writeFailures
      guard isNew else { return nil }
      return ([event], 1, [:])
    }
    return nil
  }

  /// Writes what `first_seen` rules learned since their last write (at shutdown, before a reload).
  public func saveState() {
    for store in learnedStores {
      let failures = store.counters.writeFailures
      store.save()
      counters.stateWriteFailures += store.counters.writeFailures - failures
    }
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

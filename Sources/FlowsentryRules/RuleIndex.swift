import FlowsentryCore

/// Which rules an event is tested against: those whose `events:` name its event, and of those with
/// a gate (a regex test their condition cannot be true without, `Rule.gate`), only the ones whose
/// gate matched in its field's scan. A rule left out is one whose condition is false on the event,
/// so alerts and counters are those of testing every rule; one exception keeps the regex limit
/// counters too: when a PCRE2 limit stopped any scan of the event, every rule is tested, in order,
/// so that each condition counts the limit hits its own evaluation meets.
struct RuleIndex {
  struct GatedField {
    let scan: FieldScan
    /// Rules (ascending) by the pattern id of their gate in this field's set.
    var rulesByPattern: [[Int]]
  }

  struct Bucket {
    /// Every rule of the event name (ascending), and those without a gate.
    var all: [Int] = []
    var ungated: [Int] = []
    var gated: [GatedField] = []
    /// The scans of every field a gated rule tests (each field once): a limit hit in any of them
    /// means testing every rule.
    var scans: [FieldScan] = []
  }

  /// By event name, in `RuleEngine.index(of:)` order.
  let buckets: [Bucket]

  init(rules: [Rule], eventIndex: (EventName) -> Int) {
    var buckets = [Bucket](repeating: Bucket(), count: EventName.allCases.count)
    for name in EventName.allCases {
      var bucket = Bucket()
      var gatedByField: [ObjectIdentifier: Int] = [:]
      var scanned: Set<ObjectIdentifier> = []
      for (position, rule) in rules.enumerated() where rule.events.contains(name) {
        bucket.all.append(position)
        // Gated only when every regex test of the rule reads a scan (none runs its own regex).
        guard let gate = rule.gate, let scan = gate.scan, rule.regexLeaves.allSatisfy({ $0.scan != nil }) else {
          bucket.ungated.append(position)
          continue
        }
        let key = ObjectIdentifier(scan)
        if gatedByField[key] == nil {
          gatedByField[key] = bucket.gated.count
          bucket.gated.append(
            GatedField(scan: scan, rulesByPattern: [[Int]](repeating: [], count: scan.set.patterns.count)))
        }
        bucket.gated[gatedByField[key]!].rulesByPattern[gate.pattern].append(position)
        for leaf in rule.regexLeaves {
          if let scan = leaf.scan, scanned.insert(ObjectIdentifier(scan)).inserted { bucket.scans.append(scan) }
        }
      }
      buckets[eventIndex(name)] = bucket
    }
    self.buckets = buckets
  }

  /// The rules to test `event` against, ascending, in `selected` (reused between events).
  func select(_ bucket: Bucket, _ event: EventFields, into selected: inout [Int]) {
    selected.removeAll(keepingCapacity: true)
    var limitHit = false
    for scan in bucket.scans {
      scan.update(event)
      if !scan.limitIDs.isEmpty { limitHit = true }
    }
    if limitHit {
      selected.append(contentsOf: bucket.all)
      return
    }
    for field in bucket.gated {
      for id in field.scan.matchedIDs { selected.append(contentsOf: field.rulesByPattern[id]) }
    }
    if selected.isEmpty {
      selected.append(contentsOf: bucket.ungated)
      return
    }
    selected.sort()
    // Merged with the ungated rules, in rule order (the order alerts are raised in).
    let gated = selected.count
    selected.append(contentsOf: bucket.ungated)
    if !bucket.ungated.isEmpty {
      var merged: [Int] = []
      merged.reserveCapacity(selected.count)
      var left = 0
      var right = gated
      while left < gated || right < selected.count {
        if right == selected.count || (left < gated && selected[left] < selected[right]) {
          merged.append(selected[left])
          left += 1
        } else {
          merged.append(selected[right])
          right += 1
        }
      }
      selected = merged
    }
  }
}

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

  /// A class, read in place for every event (a struct would be copied out of the array, a retain
  /// and a release per array it holds).
  final class Bucket {
    /// Every rule of the event name (ascending), and those without a gate.
    let all: [Int]
    let ungated: [Int]
    let gated: [GatedField]
    /// The scans of every field a gated rule tests (each field once): a limit hit in any of them
    /// means testing every rule.
    let scans: [FieldScan]

    init(all: [Int] = [], ungated: [Int] = [], gated: [GatedField] = [], scans: [FieldScan] = []) {
      self.all = all
      self.ungated = ungated
      self.gated = gated
      self.scans = scans
    }
  }

  /// By event name, in `RuleEngine.index(of:)` order.
  let buckets: [Bucket]

  init(rules: [Rule], eventIndex: (EventName) -> Int) {
    var buckets = [Bucket](repeating: Bucket(), count: EventName.allCases.count)
    for name in EventName.allCases {
      var all: [Int] = []
      var ungated: [Int] = []
      var gated: [GatedField] = []
      var scans: [FieldScan] = []
      var gatedByField: [ObjectIdentifier: Int] = [:]
      var scanned: Set<ObjectIdentifier> = []
      for (position, rule) in rules.enumerated() where rule.events.contains(name) {
        all.append(position)
        // Gated only when every regex test of the rule reads a scan (none runs its own regex).
        guard let gate = rule.gate, let scan = gate.scan, rule.regexLeaves.allSatisfy({ $0.scan != nil }) else {
          ungated.append(position)
          continue
        }
        let key = ObjectIdentifier(scan)
        if gatedByField[key] == nil {
          gatedByField[key] = gated.count
          gated.append(GatedField(scan: scan, rulesByPattern: [[Int]](repeating: [], count: scan.set.patterns.count)))
        }
        gated[gatedByField[key]!].rulesByPattern[gate.pattern].append(position)
        for leaf in rule.regexLeaves {
          if let scan = leaf.scan, scanned.insert(ObjectIdentifier(scan)).inserted { scans.append(scan) }
        }
      }
      buckets[eventIndex(name)] = Bucket(all: all, ungated: ungated, gated: gated, scans: scans)
    }
    self.buckets = buckets
  }

  /// The rules to test `event` against, ascending, in `selected` (reused between events).
  func select(_ bucket: Bucket, _ event: EventFields, into selected: inout [Int]) {
    selected.removeAll(keepingCapacity: true)
    var limitHit = false
    for scan in bucket.scans {
      scan.update(event)
      if scan.hasLimitHits { limitHit = true }
    }
    if limitHit {
      selected.append(contentsOf: bucket.all)
      return
    }
    for field in bucket.gated {
      for id in field.scan.matchedIDs { selected.append(contentsOf: field.rulesByPattern[Int(id)]) }
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

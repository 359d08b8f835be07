import FlowsentryCore

/// Which rules an event is tested against: those whose `events:` name its event, and of those with
/// a gate (a regex test their condition cannot be true without, `Rule.gate`), only the ones whose
/// gate matched in its field's scan. A rule left out is one whose condition is false on the event,
/// so alerts and counters are those of testing every rule; one exception keeps the regex limit
/// counters too: when a PCRE2 limit stopped any scan of the event, every rule is tested, in order,
/// so that each condition counts the limit hits its own evaluation meets.
struct RuleIndex {
  /// A class, read in place (a struct copied out of the bucket costs a retain per reference).
  final class GatedField {
    let scan: FieldScan
    /// The rules (ascending) whose gate is pattern `id` in this field's set:
    /// `rules[ruleStart[id]..<ruleStart[id + 1]]`, flat so that reading them retains nothing.
    let ruleStart: [Int]
    let rules: [Int]

    init(scan: FieldScan, rulesByPattern: [[Int]]) {
      self.scan = scan
      var ruleStart = [0]
      for rules in rulesByPattern { ruleStart.append(ruleStart.last! + rules.count) }
      self.ruleStart = ruleStart
      rules = rulesByPattern.flatMap { $0 }
    }
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
      var gated: [(scan: FieldScan, rulesByPattern: [[Int]])] = []
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
          gated.append((scan, [[Int]](repeating: [], count: scan.set.patterns.count)))
        }
        gated[gatedByField[key]!].rulesByPattern[gate.pattern].append(position)
        for leaf in rule.regexLeaves {
          if let scan = leaf.scan, scanned.insert(ObjectIdentifier(scan)).inserted { scans.append(scan) }
        }
      }
      buckets[eventIndex(name)] = Bucket(
        all: all, ungated: ungated, gated: gated.map { GatedField(scan: $0.scan, rulesByPattern: $0.rulesByPattern) },
        scans: scans)
    }
    self.buckets = buckets
  }

  /// The rules to test `event` against, ascending, in `selected` (reused between events).
  func select(_ bucket: Bucket, _ event: EventFields, into selected: inout [Int]) {
    selected.removeAll(keepingCapacity: true)
    var limitHit = false
    // By index, each element unowned: the bucket holds them, and iterating retains each one.
    bucket.scans.withUnsafeBufferPointer { scans in
      for index in scans.indices {
        unowned(unsafe) let scan = scans[index]
        scan.update(event)
        if scan.hasLimitHits { limitHit = true }
      }
    }
    if limitHit {
      selected.append(contentsOf: bucket.all)
      return
    }
    bucket.gated.withUnsafeBufferPointer { gated in
      for index in gated.indices {
        unowned(unsafe) let field = gated[index]
        field.ruleStart.withUnsafeBufferPointer { ruleStart in
          field.rules.withUnsafeBufferPointer { rules in
            for id in field.scan.matchedIDs {
              for slot in ruleStart[Int(id)]..<ruleStart[Int(id) + 1] { selected.append(rules[slot]) }
            }
          }
        }
      }
    }
    if selected.isEmpty {
      selected.append(contentsOf: bucket.ungated)
      return
    }
    // With the ungated rules, in rule order (the order alerts are raised in); a gate matches
    // seldom, and sorting the few selected allocates nothing.
    selected.append(contentsOf: bucket.ungated)
    selected.sort()
  }
}

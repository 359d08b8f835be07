import FlowsentryCore

/// Which rules an event is tested against: those whose `events:` name its event and whose event
/// gate (RuleEventGate.swift) lets its direction and close reason through, and of those with
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
    /// `rules[ruleStart[id]..<ruleStart[id + 1]]`, in buffers of their own so that reading them
    /// retains nothing.
    let ruleStart: UnsafeMutableBufferPointer<Int>
    let rules: UnsafeMutableBufferPointer<Int>

    init(scan: FieldScan, rulesByPattern: [[Int]]) {
      self.scan = scan
      var ruleStart = [0]
      for rules in rulesByPattern { ruleStart.append(ruleStart.last! + rules.count) }
      self.ruleStart = RuleIndex.buffer(ruleStart)
      rules = RuleIndex.buffer(rulesByPattern.flatMap { $0 })
    }

    deinit {
      ruleStart.deallocate()
      rules.deallocate()
    }
  }

  /// A class, read in place for every event (a struct would be copied out of the array, a retain
  /// and a release per array it holds). The lists the engine reads per event are buffers of their
  /// own: an array read out of a class is retained for the read.
  final class Bucket {
    /// Every rule of the bucket (ascending), and those without a gate.
    let all: UnsafeMutableBufferPointer<Int>
    let ungated: UnsafeMutableBufferPointer<Int>
    let gated: UnsafeMutableBufferPointer<GatedField>
    /// The scans of every field a gated rule tests (each field once): a limit hit in any of them
    /// means testing every rule.
    let scans: UnsafeMutableBufferPointer<FieldScan>

    init(all: [Int] = [], ungated: [Int] = [], gated: [GatedField] = [], scans: [FieldScan] = []) {
      self.all = RuleIndex.buffer(all)
      self.ungated = RuleIndex.buffer(ungated)
      self.gated = RuleIndex.buffer(gated)
      self.scans = RuleIndex.buffer(scans)
    }

    deinit {
      for buffer in [all, ungated] { buffer.deallocate() }
      _ = gated.deinitialize()
      gated.deallocate()
      _ = scans.deinitialize()
      scans.deallocate()
    }
  }

  /// A buffer holding `elements` (at least one slot, so that it is never a null pointer).
  static func buffer<Element>(_ elements: [Element]) -> UnsafeMutableBufferPointer<Element> {
    let buffer = UnsafeMutableBufferPointer<Element>.allocate(capacity: max(1, elements.count))
    _ = buffer.initialize(fromContentsOf: elements)
    return UnsafeMutableBufferPointer(rebasing: buffer[..<elements.count])
  }

  /// By event name, direction and close reason (`SensorEvent.gateBucket`).
  let buckets: [Bucket]

  static func nameIndex(_ name: EventName) -> Int {
    switch name {
    case .netFlowTCPBegin: return 0
    case .netFlowTCPEnd: return 1
    case .netPacketDNS: return 2
    case .netFlowTCPHalfOpen: return 3
    case .netFlowTCPUpdate: return 4
    }
  }

  init(rules: [Rule]) {
    // Per rule, whether its event gate passes each direction and each close reason.
    let passing: [(directions: [Bool], closeReasons: [Bool])] = rules.map { rule in
      var directions = [Bool](repeating: true, count: EventGateCodes.directions.count)
      var closeReasons = [Bool](repeating: true, count: EventGateCodes.closeReasons.count)
      if let gate = rule.eventGate {
        switch gate.field {
        case .direction: directions = gate.passingCodes()
        case .closeReason: closeReasons = gate.passingCodes()
        }
      }
      return (directions, closeReasons)
    }
    var buckets = [Bucket](repeating: Bucket(), count: EventGateCodes.bucketCount)
    for name in EventName.allCases {
      for direction in EventGateCodes.directions.indices {
        for closeReason in EventGateCodes.closeReasons.indices {
          let bucket = EventGateCodes.bucket(name: Self.nameIndex(name), direction: direction, closeReason: closeReason)
          buckets[bucket] = Self.bucket(
            rules: rules, name: name,
            passing: { passing[$0].directions[direction] && passing[$0].closeReasons[closeReason] })
        }
      }
    }
    self.buckets = buckets
  }

  private static func bucket(rules: [Rule], name: EventName, passing: (Int) -> Bool) -> Bucket {
    var all: [Int] = []
    var ungated: [Int] = []
    var gated: [(scan: FieldScan, rulesByPattern: [[Int]])] = []
    var scans: [FieldScan] = []
    var gatedByField: [ObjectIdentifier: Int] = [:]
    var scanned: Set<ObjectIdentifier> = []
    for (position, rule) in rules.enumerated() where rule.events.contains(name) && passing(position) {
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
    return Bucket(
      all: all, ungated: ungated, gated: gated.map { GatedField(scan: $0.scan, rulesByPattern: $0.rulesByPattern) },
      scans: scans)
  }

  /// Writes the rules to test `event` against, ascending, into `selected` (room for every rule of
  /// the bucket); returns how many.
  func select(_ bucket: Bucket, _ event: EventFields, into selected: UnsafeMutableBufferPointer<Int>) -> Int {
    var limitHit = false
    for index in bucket.scans.indices {
      unowned(unsafe) let scan = bucket.scans[index]
      scan.update(event)
      if scan.hasLimitHits { limitHit = true }
    }
    if limitHit {
      for (slot, rule) in bucket.all.enumerated() { selected[slot] = rule }
      return bucket.all.count
    }
    var count = 0
    for index in bucket.gated.indices {
      unowned(unsafe) let field = bucket.gated[index]
      for id in field.scan.matchedIDs {
        for slot in field.ruleStart[Int(id)]..<field.ruleStart[Int(id) + 1] {
          selected[count] = field.rules[slot]
          count += 1
        }
      }
    }
    let gatedCount = count
    for rule in bucket.ungated {
      selected[count] = rule
      count += 1
    }
    // With the ungated rules, in rule order (the order alerts are raised in); a gate matches
    // seldom, and sorting the few selected allocates nothing.
    if gatedCount > 0 {
      var candidates = UnsafeMutableBufferPointer(rebasing: selected[..<count])
      candidates.sort()
    }
    return count
  }
}

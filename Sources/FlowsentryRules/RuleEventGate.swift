import FlowsentryCore

/// A test on the connection direction or the close reason that a condition evaluates first and
/// cannot be true without (`outgoing and …`, `abrupt_end and …`). Both fields take a handful of
/// values, so the rule index files each rule only under the (event name, direction, close reason)
/// combinations its gate lets through: a rule whose gate is false on an event is never called.
/// Being the first test evaluated, a false gate ends the condition before anything else in it runs
/// (no regex, so no limit hit to count): skipping the rule changes no alert and no counter.
struct EventGate {
  enum GatedField { case direction, closeReason }

  var field: GatedField
  /// The test alone; it reads `field` and nothing else.
  var predicate: Predicate

  /// The field a comparison on `name` gates, if it is one of the two.
  static func field(named name: String) -> GatedField? {
    switch name {
    case "conn_direction": return .direction
    case "close_reason": return .closeReason
    default: return nil
    }
  }

  /// Whether the test passes for each value the field can hold, in code order (`EventGateCodes`),
  /// found by evaluating it on an event holding each value in turn.
  func passingCodes() -> [Bool] {
    let probe = EventFields.blank()
    switch field {
    case .direction:
      return EventGateCodes.directions.map { direction in
        probe.loadGateProbe(direction: direction?.rawValue, closeReason: nil)
        return predicate(probe)
      }
    case .closeReason:
      return EventGateCodes.closeReasons.map { reason in
        probe.loadGateProbe(direction: nil, closeReason: reason?.rawValue)
        return predicate(probe)
      }
    }
  }
}

/// Where an event falls among the rule index's buckets: its event name, direction and close reason
/// as small numbers (nil, for a DNS event or a flow not yet closed, is 0).
enum EventGateCodes {
  static let directions: [ConnectionDirection?] = [nil, .outgoing, .incoming]
  static let closeReasons: [CloseReason?] = [nil, .fin, .rst, .refused, .timeout]
  static let bucketCount = EventName.allCases.count * directions.count * closeReasons.count

  static func direction(_ direction: ConnectionDirection?) -> Int {
    switch direction {
    case nil: return 0
    case .outgoing: return 1
    case .incoming: return 2
    }
  }

  static func closeReason(_ reason: CloseReason?) -> Int {
    switch reason {
    case nil: return 0
    case .fin: return 1
    case .rst: return 2
    case .refused: return 3
    case .timeout: return 4
    }
  }

  static func bucket(name: Int, direction: Int, closeReason: Int) -> Int {
    (name * directions.count + direction) * closeReasons.count + closeReason
  }
}

extension SensorEvent {
  /// The event's bucket in the rule index, read in place as `eventName` is.
  var gateBucket: Int {
    switch self {
    case .flow(let flow):
      return EventGateCodes.bucket(
        name: RuleIndex.nameIndex(flow.name), direction: EventGateCodes.direction(flow.direction),
        closeReason: EventGateCodes.closeReason(flow.closeReason))
    case .dns:
      return EventGateCodes.bucket(name: RuleIndex.nameIndex(.netPacketDNS), direction: 0, closeReason: 0)
    }
  }
}

extension EventFields {
  /// An event with these two values and every other field empty, to find what a gate lets through.
  func loadGateProbe(direction: String?, closeReason: String?) {
    var values = Values()
    values.generation = Self.nextGeneration()
    values.direction = direction
    values.closeReason = closeReason
    replaceValues(with: values)
  }
}

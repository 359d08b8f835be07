/// An alert raised by a rule, with the events that caused it.
public struct Alert: Sendable {
  /// Stable for the same sensor (`host:`), rule, group and first event: a re-run over the same events
  /// gives the same id, another sensor another one (SHA-256, 32 hex digits; `StableIdentifier`).
  public var id: String
  public var timestamp: WallClockNanoseconds
  public var ruleID: String
  public var ruleName: String
  public var severity: Severity
  public var tags: [String]
  public var message: String
  /// The threshold's group_by fields and their values, in rule order.
  public var group: [(field: String, value: String)]
  /// Matching events (or distinct values) that made the rule fire.
  public var count: Int
  public var windowNanoseconds: Int64?
  /// Alerts of the same rule and key folded into this one since the previous alert.
  public var suppressed: Int
  /// The triggering event, or for thresholds the window's events (the most recent, capped).
  public var events: [SensorEvent]
  public var eventsLeftOut: Int
  /// The rule's description and references, for SIEM formats that carry them (ECS `rule.*`).
  public var ruleDescription: String
  public var ruleReferences: [String]
  /// The listed indicator that decided the match, when a threat-intel list did.
  public var indicator: IntelIndicatorMatch?
  /// What a behaviour rule measured (beaconing: score, period_ms, jitter_ms), in a fixed order.
  public var measurements: [(name: String, value: Double)] = []

  public init(
    id: String, timestamp: WallClockNanoseconds, ruleID: String, ruleName: String, severity: Severity, tags: [String],
    message: String, group: [(field: String, value: String)], count: Int, windowNanoseconds: Int64?, suppressed: Int,
    events: [SensorEvent], eventsLeftOut: Int, ruleDescription: String = "", ruleReferences: [String] = [],
    indicator: IntelIndicatorMatch? = nil
  ) {
    self.indicator = indicator
    self.ruleDescription = ruleDescription
    self.ruleReferences = ruleReferences
    self.id = id
    self.timestamp = timestamp
    self.ruleID = ruleID
    self.ruleName = ruleName
    self.severity = severity
    self.tags = tags
    self.message = message
    self.group = group
    self.count = count
    self.windowNanoseconds = windowNanoseconds
    self.suppressed = suppressed
    self.events = events
    self.eventsLeftOut = eventsLeftOut
  }
}

import FlowsentryCore
import FlowsentryOutput

/// Names the aggregate's alerts by what they contain, not by the order their events arrived in:
/// the rule, the group and the earliest event's time (SHA-256, `StableIdentifier.alert`) under the
/// aggregate's `host`. A restarted instance that rebuilds a window from redelivered events, in
/// whatever order, raises the alert it raised before under the same id, which the output's
/// receiver (JetStream's duplicate window, an index keyed by id) keeps once.
public final class AggregateAlertSink<Inner: EventSink>: EventSink {
  public let inner: Inner
  public let host: String
  /// Whether the fleet's events themselves go on to the outputs (`--events`); alerts always do.
  public let forwardsEvents: Bool

  public init(_ inner: Inner, host: String, forwardsEvents: Bool) {
    self.inner = inner
    self.host = host
    self.forwardsEvents = forwardsEvents
  }

  public func receive(_ event: SensorEvent) {
    if forwardsEvents { inner.receive(event) }
  }

  public func receive(_ alert: Alert) {
    var alert = alert
    alert.id = Self.identifier(alert, host: host)
    inner.receive(alert)
  }

  public func flush() { inner.flush() }

  static func identifier(_ alert: Alert, host: String) -> String {
    let earliest = alert.events.map(\.timestamp).min() ?? alert.timestamp
    return StableIdentifier.alert(
      host: host, ruleID: alert.ruleID, group: alert.group, firstEventTime: earliest,
      distinguishing: distinguishing(alert, earliest: earliest))
  }

  /// What tells apart two alerts of one rule and group that start at the same time (a rule on
  /// single events, seen by two sensors in the same nanosecond): as the sensor's pipeline does
  /// (`Pipeline.distinguishing`), the indicator and the first event's flow tuple and socket cookie
  /// or DNS questions, and here also the sensor that saw it. The first event is the earliest, the
  /// smallest of its description among equal times, whatever order the events arrived in.
  static func distinguishing(_ alert: Alert, earliest: Int64) -> [String] {
    var values: [String] = []
    if let indicator = alert.indicator { values.append(indicator.indicator) }
    let first = alert.events.lazy.filter { $0.timestamp == earliest }.map(Self.describe).min()
    if let first { values.append(first) }
    return values
  }

  private static func describe(_ event: SensorEvent) -> String {
    switch event {
    case .flow(let event):
      return "\(event.name.rawValue) \(event.source) \(event.destination) \(event.socketCookie) \(event.host)"
    case .dns(let event):
      return "dns \(event.timestamp) \(event.questions.joined(separator: ",")) \(event.host)"
    }
  }
}

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
    alert.id = StableIdentifier.alert(alert, host: host)
    inner.receive(alert)
  }

  public func flush() { inner.flush() }
}

import FlowsentryCore
import FlowsentryOutput

/// The pipeline's side of the forwarding outputs: each alert (and each selected event) is encoded
/// once per format in use and handed to every output that wants it, without waiting on any.
public final class OutputRouter: EventSink {
  private struct Route {
    var output: ForwardingOutput
    var events: Set<EventName>
    var syslog: SyslogMessage
  }

  private let routes: [Route]
  private let context: EventJSON.Context
  private var body: [UInt8] = []

  public init(outputs: [ForwardingOutput], context: EventJSON.Context, processID: Int32) {
    self.context = context
    routes = outputs.map { output in
      Route(
        output: output, events: output.configuration.events,
        syslog: SyslogMessage(
          facility: output.configuration.facility, hostName: context.hostName, processID: processID))
    }
  }

  public var outputs: [ForwardingOutput] { routes.map(\.output) }

  public func receive(_ event: SensorEvent) {
    var encoded = false
    for route in routes where route.events.contains(event.name) {
      if !encoded {
        body.removeAll(keepingCapacity: true)
        EventJSON.append(event, context: context, to: &body)
        encoded = true
      }
      route.output.enqueue(route.syslog.message(for: event, body: body), rank: 0)
    }
  }

  public func receive(_ alert: Alert) {
    guard !routes.isEmpty else { return }
    body.removeAll(keepingCapacity: true)
    AlertJSON.append(alert, context: context, to: &body)
    let rank = OutputConfiguration.rank(ofSeverity: alert.severity)
    for route in routes { route.output.enqueue(route.syslog.message(for: alert, body: body), rank: rank) }
  }
}

import FlowsentryCore
import FlowsentryOutput

/// The pipeline's side of the forwarding outputs: each alert (and each selected event) is encoded
/// once per format in use and handed to every output that wants it, without waiting on any.
public final class OutputRouter: EventSink {
  private struct Route {
    var output: ForwardingOutput
    var events: Set<EventName>
    var format: OutputConfiguration.Format
    var framer: MessageFramer
  }

  private let routes: [Route]
  private let context: EventJSON.Context
  /// Events at least one output forwards.
  private let forwardedEvents: Set<EventName>

  public init(outputs: [ForwardingOutput], context: EventJSON.Context, processID: Int32) {
    self.context = context
    routes = outputs.map { output in
      Route(
        output: output, events: output.configuration.events, format: output.configuration.format,
        framer: MessageFramer(configuration: output.configuration, hostName: context.hostName, processID: processID))
    }
    forwardedEvents = outputs.reduce(into: []) { $0.formUnion($1.configuration.events) }
  }

  public var outputs: [ForwardingOutput] { routes.map(\.output) }

  public func receive(_ event: SensorEvent) {
    // The hot path: most events go to no output, and cost one lookup.
    guard forwardedEvents.contains(event.name) else { return }
    var bodies = Bodies()
    for route in routes where route.events.contains(event.name) {
      let body = bodies.body(route.format) { format in
        encode(
          format, json: { EventJSON.append(event, context: $0, to: &$1) },
          ecs: { ECSJSON.append(event, context: $0, to: &$1) }, cef: { CEFMessage.line(for: event, context: $0) })
      }
      route.output.enqueue(route.framer.frame(event, body: body), rank: 0)
    }
  }

  public func receive(_ alert: Alert) {
    var bodies = Bodies()
    let rank = OutputConfiguration.rank(ofSeverity: alert.severity)
    for route in routes {
      let body = bodies.body(route.format) { format in
        encode(
          format, json: { AlertJSON.append(alert, context: $0, to: &$1) },
          ecs: { ECSJSON.append(alert, context: $0, to: &$1) }, cef: { CEFMessage.line(for: alert, context: $0) })
      }
      route.output.enqueue(route.framer.frame(alert, body: body), rank: rank)
    }
  }

  private func encode(
    _ format: OutputConfiguration.Format, json: (EventJSON.Context, inout [UInt8]) -> Void,
    ecs: (EventJSON.Context, inout [UInt8]) -> Void, cef: (EventJSON.Context) -> String
  ) -> [UInt8] {
    var bytes: [UInt8] = []
    switch format {
    case .json: json(context, &bytes)
    case .ecs: ecs(context, &bytes)
    case .cef: bytes = Array(cef(context).utf8)
    }
    return bytes
  }

  /// One record's bodies, each format encoded at most once whatever the number of outputs using it.
  private struct Bodies {
    private var encoded: [[UInt8]?] = Array(repeating: nil, count: OutputConfiguration.Format.allCases.count)

    mutating func body(
      _ format: OutputConfiguration.Format, _ encode: (OutputConfiguration.Format) -> [UInt8]
    ) -> [UInt8] {
      let index = OutputConfiguration.Format.allCases.firstIndex(of: format)!
      if let body = encoded[index] { return body }
      let body = encode(format)
      encoded[index] = body
      return body
    }
  }
}

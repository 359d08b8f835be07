import FlowsentryCore
import FlowsentryDNS
import FlowsentryFlows
import FlowsentryOutput
import FlowsentryPipeline
import Foundation
import Synchronization

@testable import FlowsentryCapture

/// The monitor's pipeline on a test cgroup: capture → `Pipeline` (flow tracking → DNS enrichment,
/// no rules), collecting events in memory.
final class LiveCapture: Sendable {
  let session: CaptureSession
  private let collected = Collected()
  private let consumer: Task<Void, Never>

  init(
    cgroup: TestCgroup, configuration: CaptureSession.Configuration = .init(),
    pipeline pipelineConfiguration: Pipeline.Configuration = .init(), walksSockets: Bool = true
  ) throws {
    session = try CaptureSession(cgroupPath: cgroup.path, configuration: configuration)
    if !walksSockets { session.disableSocketWalks() }
    let packets = try session.packets()
    let collected = self.collected
    consumer = Task.detached {
      let pipeline = Pipeline(configuration: pipelineConfiguration)
      let sink = InMemoryEventSink()
      for await batch in packets {
        for record in batch { pipeline.process(record, to: sink) }
        let counters = pipeline.counters
        collected.withLock { state in
          for event in sink.events {
            switch event {
            case .flow(let flow) where flow.name == .netFlowTCPHalfOpen: state.halfOpen.append(flow)
            case .flow(let flow): state.events.append(flow)
            case .dns(let dns): state.dnsEvents.append(dns)
            }
          }
          state.counters = counters.flows
          state.dnsCounters = counters.dns
        }
        sink.removeAll()
      }
    }
  }

  var events: [FlowEvent] { collected.withLock { $0.events } }
  var dnsEvents: [DNSEvent] { collected.withLock { $0.dnsEvents } }
  /// `net_flow_tcp_half_open` events: the remote is the source.
  var halfOpen: [FlowEvent] { collected.withLock { $0.halfOpen } }
  var counters: FlowTracker.Counters { collected.withLock { $0.counters } }
  var dnsCounters: DNSEnricher.Counters { collected.withLock { $0.dnsCounters } }

  /// Waits until `count` events arrived (or the timeout), then a little longer so that any
  /// duplicate or stray event has its chance to show up and fail the test.
  func events(count: Int, timeout: Duration = .seconds(10)) async throws -> [FlowEvent] {
    let deadline = ContinuousClock.now + timeout
    while events.count < count && ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(20))
    }
    try await Task.sleep(for: .milliseconds(400))
    return events
  }

  func stop() async {
    session.stop()
    await consumer.value
  }
}

final class Collected: Sendable {
  struct State {
    var events: [FlowEvent] = []
    var dnsEvents: [DNSEvent] = []
    var halfOpen: [FlowEvent] = []
    var counters = FlowTracker.Counters()
    var dnsCounters = DNSEnricher.Counters()
  }
  private let state = Mutex(State())
  func withLock<T>(_ body: (inout State) -> T) -> T { state.withLock { body(&$0) } }
}

/// What a test knows about an event from its own sockets.
struct EventShape: Hashable, Comparable, CustomStringConvertible {
  var name: EventName
  var direction: ConnectionDirection
  var source: Endpoint
  var destination: Endpoint
  var reason: CloseReason?
  var terminatedBy: Side?

  static func begin(_ direction: ConnectionDirection, from source: Endpoint, to destination: Endpoint) -> EventShape {
    EventShape(name: .netFlowTCPBegin, direction: direction, source: source, destination: destination)
  }

  static func end(
    _ direction: ConnectionDirection, _ reason: CloseReason, by terminatedBy: Side, from source: Endpoint,
    to destination: Endpoint
  ) -> EventShape {
    EventShape(
      name: .netFlowTCPEnd, direction: direction, source: source, destination: destination, reason: reason,
      terminatedBy: terminatedBy)
  }

  var description: String {
    "\(name.rawValue) \(direction.rawValue) \(source) -> \(destination)"
      + (reason.map { " \($0.rawValue) by \(terminatedBy?.rawValue ?? "?")" } ?? "")
  }

  static func < (lhs: EventShape, rhs: EventShape) -> Bool { lhs.description < rhs.description }
}

extension FlowEvent {
  var shape: EventShape {
    EventShape(
      name: name, direction: direction, source: source, destination: destination, reason: closeReason,
      terminatedBy: terminatedBy)
  }
}

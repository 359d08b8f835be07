import FlowsentryCore
import FlowsentryDNS
import FlowsentryFlows
import FlowsentryOutput
import FlowsentryRules
import Foundation

/// The stage chain every source feeds: flow tracking → DNS enrichment → rules → an output.
///
/// Written once and driven by the records it is given, in their order and on their clock (the
/// kernel's for live capture, a file's for replay): windows, TTLs and durations use the records'
/// timestamps, never the wall clock. Rules see every event; which events are printed is the
/// output's business (`SelectingEventSink`). A class: its stages' state must never fork on copy.
public final class Pipeline {
  public struct Configuration: Sendable {
    public var flows = FlowTracker.Configuration()
    public var dns = DNSEnricher.Configuration()
    public var rules = RuleEngine.Configuration()
    /// The sensor's identity (`host:`, the host name by default): part of every alert's id, so that
    /// sensors seeing the same events raise different ids (`StableIdentifier.alert`).
    public var host = ""
    public init() {}
  }

  /// Every stage's counters, read together.
  public struct Counters: Sendable {
    public var flows: FlowTracker.Counters
    public var dns: DNSEnricher.Counters
    public var rules: RuleEngine.Counters
    /// Per enabled rule, counted across reloads.
    public var perRule: [RuleEngine.RuleCounters]
    /// The running set's typed lists, as last loaded.
    public var intelLists: [IntelListSummary]
  }

  public let configuration: Configuration
  /// All mutable state in one value, so that a record costs one exclusive access to it, not one
  /// per stage and buffer.
  private var stages: Stages

  public init(configuration: Configuration = Configuration(), rules: RuleSet = .empty) {
    self.configuration = configuration
    stages = Stages(
      tracker: FlowTracker(configuration: configuration.flows),
      enricher: DNSEnricher(configuration: configuration.dns),
      engine: RuleEngine(rules: rules, configuration: configuration.rules), host: configuration.host)
  }

  /// Swaps the rule set (its thresholds start empty, its counters go on); call between records,
  /// never within one.
  public func replaceRules(_ rules: RuleSet) {
    let previous = stages.engine
    stages.engine = RuleEngine(rules: rules, configuration: configuration.rules, continuing: previous)
    Self.releaseOnItsOwnThread(previous)
  }

  /// Drops the replaced engine, and with it the set that only it held, on a thread of its own:
  /// unmapping a set of millions of indicators takes long enough to show as a pause between batches.
  /// Nothing uses the engine any more; the thread only drops the last reference.
  private static func releaseOnItsOwnThread(_ engine: consuming RuleEngine) {
    let last = ReleasedEngine(engine)
    let thread = Thread { last.drop() }
    thread.name = "flowsentry-release"
    thread.start()
  }

  /// Writes what stateful rules learned (first-seen values) to the state directory: at the end of
  /// a run, so that the next one does not learn again.
  public func saveState() {
    stages.engine.saveState()
  }

  public var counters: Counters {
    Counters(
      flows: stages.tracker.counters, dns: stages.enricher.counters, rules: stages.engine.counters,
      perRule: stages.engine.perRule, intelLists: stages.engine.intelLists)
  }

  /// Runs one record through every stage; the events it causes and the alerts they raise go to
  /// `sink`, each event before the alerts it raised.
  ///
  /// Specialised here for the monitor's sinks: a generic body across the module boundary would
  /// reach every sink call and every stage through witness tables, once per event.
  @_specialize(exported:true,where Sink == SelectingEventSink<JSONLinesEventSink>)
  @_specialize(exported:true,where Sink == MultiplexEventSink)
  @_specialize(exported:true,where Sink == JSONLinesEventSink)
  public func process<Sink: EventSink>(_ record: CapturedRecord, to sink: Sink) {
    stages.process(record, to: sink)
  }

  /// The input ended: no record follows (a replay's last file was read, or the monitor stopped and
  /// drained its capture), so no answer to the questions still waiting will be read. Each is
  /// reported unanswered as a timed-out one is (`answered: false`), in the order asked, and rules see
  /// it; a question whose retry was answered is folded, not reported. A replay passes no `now`: its
  /// questions are dated when their timeouts would have passed (possibly after its last record), as
  /// a capture holds every answer it will ever hold. The monitor passes the time it stopped, which
  /// dates those still within their timeout: one asked a moment before the stop may have had an
  /// answer after it, but dropped, a lookup of a listed name would raise nothing at all. Records may
  /// still follow; they start with no question waiting.
  public func finishInput<Sink: EventSink>(at now: WallClockNanoseconds = .max, to sink: Sink) {
    stages.finishInput(at: now, to: sink)
  }

  /// Runs a recorded event (`monitor --record`) through the rules alone: the flow was tracked and
  /// named when it was recorded, so its names stand in for the DNS cache.
  public func rerun<Sink: EventSink>(_ event: SensorEvent, to sink: Sink) {
    stages.emit(event, at: event.timestamp, to: sink)
  }

  private struct Stages {
    var tracker: FlowTracker
    var enricher: DNSEnricher
    var engine: RuleEngine
    let host: String
    var flowEvents: [FlowEvent] = []
    var unansweredEvents: [DNSEvent] = []
    var alerts: [Alert] = []

    mutating func process<Sink: EventSink>(_ record: CapturedRecord, to sink: Sink) {
      // Questions the record's time is past the give-up point of (the timeout, and the allowance for
      // records out of order) are reported first, so that an answer that comes later finds its
      // question reported (and counts as late). One comparison a record: nothing is looked up
      // before a question is due.
      if record.timestamp > enricher.nextQuestionExpiry { reportUnansweredQuestions(at: record.timestamp, to: sink) }
      switch record {
      case .tcp(let packet):
        tracker.observe(packet, into: &flowEvents)
        emitFlowEvents(to: sink)
      case .socket(let change):
        tracker.observe(change, into: &flowEvents)
        emitFlowEvents(to: sink)
      case .halfOpen(let attempt):
        flowEvents.append(attempt.event)
        emitFlowEvents(to: sink)
      case .dns(let packet):
        // Questions and answers are read whether or not DNS events are printed: they name flows.
        let observed = enricher.observe(packet)
        // A question this one pushed out of the pending bound is due now, before what follows it.
        if record.timestamp > enricher.nextQuestionExpiry { reportUnansweredQuestions(at: record.timestamp, to: sink) }
        guard var event = observed else { return }
        if event.host.isEmpty { event.host = host }
        let time = event.timestamp
        deliver(.dns(event), at: time, to: sink)
      case .tick:
        break
      }
    }

    private mutating func reportUnansweredQuestions<Sink: EventSink>(at now: WallClockNanoseconds, to sink: Sink) {
      enricher.expireQuestions(at: now, into: &unansweredEvents)
      deliverUnansweredEvents(to: sink)
    }

    mutating func finishInput<Sink: EventSink>(at now: WallClockNanoseconds, to sink: Sink) {
      enricher.expireAllQuestions(at: now, into: &unansweredEvents)
      deliverUnansweredEvents(to: sink)
    }

    private mutating func deliverUnansweredEvents<Sink: EventSink>(to sink: Sink) {
      guard !unansweredEvents.isEmpty else { return }
      for index in unansweredEvents.indices where unansweredEvents[index].host.isEmpty {
        unansweredEvents[index].host = host
      }
      unansweredEvents.reverse()
      while let event = unansweredEvents.popLast() {
        let time = event.timestamp
        deliver(.dns(event), at: time, to: sink)
      }
    }

    private mutating func emitFlowEvents<Sink: EventSink>(to sink: Sink) {
      guard !flowEvents.isEmpty else { return }
      for index in flowEvents.indices {
        enricher.enrich(&flowEvents[index])
        // Named here, in place, so that `emit` need not copy the event to name it.
        if flowEvents[index].host.isEmpty { flowEvents[index].host = host }
      }
      // Moved out of the array, last first, rather than copied (a copy retains every name and
      // text an event holds, and the array's clearing releases them again).
      flowEvents.reverse()
      // The time read first: read after, it would keep the event alive past its wrapping, and the
      // wrapping would copy it (retaining every name) instead of moving it.
      while let event = flowEvents.popLast() {
        let time = event.timestamp
        deliver(.flow(event), at: time, to: sink)
      }
    }

    mutating func emit<Sink: EventSink>(_ event: SensorEvent, at time: Int64, to sink: Sink) {
      // A sensor's own events name it, so that `host` in its rules reads what the aggregate's do;
      // events the aggregate reads keep the sensor that saw them.
      if !host.isEmpty && event.host.isEmpty {
        deliver(event.withHost(host), at: time, to: sink)
      } else {
        deliver(event, at: time, to: sink)
      }
    }

    private mutating func deliver<Sink: EventSink>(_ event: SensorEvent, at time: Int64, to sink: Sink) {
      engine.process(event, at: time, into: &alerts)
      sink.receive(event)
      guard !alerts.isEmpty else { return }
      for var alert in alerts {
        alert.id = StableIdentifier.alert(alert, host: host)
        sink.receive(alert)
      }
      alerts.removeAll(keepingCapacity: true)
    }
  }
}

/// The replaced engine on its way to the releasing thread. Unchecked: nothing reads or writes the
/// engine after the hand-over; the thread only drops the reference it is given.
private final class ReleasedEngine: @unchecked Sendable {
  private var engine: RuleEngine?

  init(_ engine: consuming RuleEngine) { self.engine = engine }

  func drop() { engine = nil }
}

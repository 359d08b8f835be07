import FlowsentryCore
import FlowsentryNATS
import FlowsentryOutput
import Foundation

/// Reads the fleet's events from the durable pull consumers of the partitions an instance owns,
/// hands each to `evaluate` (the rule engine, on this thread), and acknowledges it once it left
/// every window it could feed (`AcknowledgementHold`). Blocking: `run` owns the calling thread.
public final class Aggregator: @unchecked Sendable {
  public struct Counters: Sendable, Equatable {
    public var fetched: UInt64 = 0
    public var evaluated: UInt64 = 0
    /// Alerts and events of kinds no rule reads: acknowledged at once.
    public var skipped: UInt64 = 0
    /// Not an event of the schema: acknowledged (a resend would not mend it), counted, logged once.
    public var malformed: UInt64 = 0
    public var late: UInt64 = 0
    /// Dated beyond this instance's clock plus `future_skew_ms`: acknowledged, not evaluated.
    public var future: UInt64 = 0
    public var acknowledged: UInt64 = 0
    public var forced: UInt64 = 0
    public var extended: UInt64 = 0
    /// Deliveries seen more than once (after a crash, or an ack wait that ran out).
    public var redelivered: UInt64 = 0
    /// Redeliveries of messages this instance holds already (an in-progress lost in an outage):
    /// not evaluated again.
    public var repeated: UInt64 = 0
    public var errors: UInt64 = 0
    public var held = 0
    public init() {}
  }

  private struct Partition {
    let number: Int
    let consumer: JetStreamPullConsumer
    var hold: AcknowledgementHold<JetStreamDelivery>
    var recoveringUntil: Date?
  }

  public let input: AggregateInput
  public let layout: PartitionLayout
  private let connection: NATSConnection
  private let publisher: JetStreamPublisher
  private var partitions: [Partition] = []
  private let lock = NSLock()
  private var current = Counters()
  private let log: (String) -> Void
  private var loggedMalformed = false
  /// When a future-dated event was last logged, and how many came since: one line per interval.
  private var lastFutureLog: Date?
  private var futureSinceLog: UInt64 = 0
  private static let futureLogInterval: TimeInterval = 60
  /// The last fetch failure logged, so that an outage is logged once, not at each retry.
  private var lastFailure: String?

  /// Connects and binds one durable consumer per owned partition (created when missing, with the
  /// input's ack wait and pending bound). Throws with the server's reason: wrong credentials, no
  /// such stream, no server.
  public init(
    input: AggregateInput, layout: PartitionLayout, windowNanoseconds: Int64, log: @escaping (String) -> Void
  ) throws(NATSError) {
    self.input = input
    self.layout = layout
    self.log = log
    connection = try NATSConnection(input.connectionOptions)
    publisher = try JetStreamPublisher(connection: connection)
    for number in layout.owned {
      let durable = input.durableName(partition: number)
      let consumer = try JetStreamPullConsumer(
        publisher: publisher, stream: input.stream, durable: durable,
        filterSubject: input.filterSubject(partition: number),
        acknowledgementWaitMilliseconds: input.acknowledgementWaitMilliseconds,
        maximumAcknowledgementsPending: input.maximumAcknowledgementsPending)
      var hold = AcknowledgementHold<JetStreamDelivery>(
        windowNanoseconds: windowNanoseconds, latenessNanoseconds: input.latenessMilliseconds * 1_000_000,
        // Below the server's bound, so that the server never stops delivering to a full hold.
        capacity: Int(input.maximumAcknowledgementsPending) - input.batch,
        futureSkewNanoseconds: input.futureSkewMilliseconds * 1_000_000)
      var recoveringUntil: Date?
      let pending = try publisher.consumerState(stream: input.stream, durable: durable).acknowledgementsPending
      if pending > 0 {
        hold.recovering = true
        recoveringUntil = Date().addingTimeInterval(Double(input.acknowledgementWaitMilliseconds) / 1000 + 1)
        log(
          "partition \(number): \(pending) messages left unacknowledged by a previous run; they come back within the ack wait"
        )
      }
      partitions.append(Partition(number: number, consumer: consumer, hold: hold, recoveringUntil: recoveringUntil))
    }
  }

  public var counters: Counters { lock.withLock { current } }

  private func count(_ change: (inout Counters) -> Void) { lock.withLock { change(&current) } }

  /// Fetches, evaluates and acknowledges until `shouldStop` says so. Held messages are left
  /// unacknowledged at the stop: the next instance gets them again and rebuilds its windows.
  public func run(shouldStop: () -> Bool, evaluate: (SensorEvent) -> Void) {
    let extendEvery = Double(input.acknowledgementWaitMilliseconds) / 3000
    var lastExtended = Date()
    let wait = Int64(max(20, 200 / max(1, partitions.count)))
    while !shouldStop() {
      for index in partitions.indices {
        let deliveries: [JetStreamDelivery]
        do {
          deliveries = try partitions[index].consumer.fetch(batch: input.batch, timeoutMilliseconds: wait)
        } catch {
          count { $0.errors += 1 }
          if lastFailure != error.description {
            lastFailure = error.description
            log("partition \(partitions[index].number): \(error) (counted; retried until it mends)")
          }
          Thread.sleep(forTimeInterval: 0.5)
          continue
        }
        if lastFailure != nil, !deliveries.isEmpty {
          lastFailure = nil
          log("partition \(partitions[index].number): reading again")
        }
        let now = Self.wallClockNanoseconds()
        for delivery in deliveries { handle(delivery, in: index, now: now, evaluate: evaluate) }
        if let until = partitions[index].recoveringUntil, Date() >= until {
          partitions[index].recoveringUntil = nil
          partitions[index].hold.recovering = false
          acknowledge(partitions[index].hold.releasable())
        }
      }
      if Date().timeIntervalSince(lastExtended) >= extendEvery {
        lastExtended = Date()
        extendHeld()
      }
      count { counters in counters.held = partitions.reduce(0) { $0 + $1.hold.counters.held } }
    }
  }

  private static func wallClockNanoseconds() -> Int64 {
    Int64(Date().timeIntervalSince1970 * 1_000_000_000)
  }

  private func handle(
    _ delivery: JetStreamDelivery, in index: Int, now: Int64, evaluate: (SensorEvent) -> Void
  ) {
    count {
      $0.fetched += 1
      if delivery.deliveries > 1 { $0.redelivered += 1 }
    }
    if delivery.deliveries > 1, partitions[index].hold.holds(sequence: delivery.streamSequence) {
      // Evaluated already by this instance, and still held: only the newest delivery can be acknowledged.
      partitions[index].hold.replace(sequence: delivery.streamSequence, with: delivery)
      count { $0.repeated += 1 }
      return
    }
    switch EventJSONReader.read(String(decoding: delivery.data, as: UTF8.self)) {
    case .event(let event):
      switch partitions[index].hold.admission(of: event.timestamp, now: now) {
      case .future:
        partitions[index].hold.countFuture()
        count { $0.future += 1 }
        logFuture(event, in: partitions[index].number, now: now)
        acknowledge([delivery])
        return
      case .late:
        partitions[index].hold.countLate()
        count { $0.late += 1 }
        acknowledge([delivery])
        return
      case .evaluate: break
      }
      evaluate(event)
      count { $0.evaluated += 1 }
      let forcedBefore = partitions[index].hold.counters.forced
      let out = partitions[index].hold.hold(
        delivery, at: event.timestamp, sequence: delivery.streamSequence, now: now)
      let forced = partitions[index].hold.counters.forced - forcedBefore
      if forced > 0 { count { $0.forced += forced } }
      acknowledge(out)
    case .skipped:
      count { $0.skipped += 1 }
      acknowledge([delivery])
    case .malformed(let reason, let column):
      count { $0.malformed += 1 }
      if !loggedMalformed {
        loggedMalformed = true
        log(
          "\(delivery.subject) #\(delivery.streamSequence): not an event (column \(column)): \(reason); counted, acknowledged"
        )
      }
      acknowledge([delivery])
    }
  }

  /// One line per interval, naming the sensor of the event that opened it: a clock gone wrong (or
  /// a sensor lying) is worth knowing, but not once per event.
  private func logFuture(_ event: SensorEvent, in partition: Int, now: Int64) {
    futureSinceLog += 1
    if let last = lastFutureLog, Date().timeIntervalSince(last) < Self.futureLogInterval { return }
    lastFutureLog = Date()
    let ahead = (event.timestamp - now) / 1_000_000_000
    // Quoted and escaped: the name comes from the event, which any sensor can write.
    let host = String(event.host.prefix(253)).debugDescription
    log(
      "partition \(partition): an event of host \(host) is dated \(ahead) s ahead of this clock "
        + "(beyond future_skew_ms \(input.futureSkewMilliseconds)); \(futureSinceLog) such events since the last "
        + "line acknowledged unevaluated, counted future")
    futureSinceLog = 0
  }

  private func acknowledge(_ deliveries: [JetStreamDelivery]) {
    guard !deliveries.isEmpty else { return }
    var done: UInt64 = 0
    var failed: UInt64 = 0
    for delivery in deliveries {
      do {
        try delivery.acknowledge()
        done += 1
      } catch {
        // Not acknowledged: the server delivers it again, and the window it rebuilds is one it left.
        failed += 1
      }
    }
    count {
      $0.acknowledged += done
      $0.errors += failed
    }
  }

  private func extendHeld() {
    var done: UInt64 = 0
    var failed: UInt64 = 0
    for partition in partitions {
      for delivery in partition.hold.held {
        do {
          try delivery.extend()
          done += 1
        } catch {
          failed += 1
        }
      }
    }
    count {
      $0.extended += done
      $0.errors += failed
    }
  }
}

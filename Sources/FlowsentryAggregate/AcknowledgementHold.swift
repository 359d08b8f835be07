import FlowsentryCore
import HeapModule

/// The messages of one partition that an instance has evaluated and not yet acknowledged.
///
/// A message is acknowledged only once its event can feed no window any more: its time is older
/// than the partition's watermark (the newest event time seen, never past the aggregate's clock)
/// minus the longest window minus the lateness bound. Until then a crash leaves it
/// unacknowledged, and the server delivers it again to the restarted instance, which rebuilds its
/// windows from it. Event time throughout: a partition whose sensors fall silent keeps its
/// messages held (in progress), never acknowledged early by the wall clock.
///
/// Held messages sit in a min-heap on (time, arrival), so that holding one costs O(log held) and
/// releasing k costs O(k log held), however many are held.
public struct AcknowledgementHold<Message> {
  public struct Counters: Sendable, Equatable {
    public var held = 0
    public var released: UInt64 = 0
    /// Older than the watermark minus the lateness bound on arrival: acknowledged, not evaluated.
    public var late: UInt64 = 0
    /// Dated further ahead of the aggregate's clock than the skew bound: acknowledged, not
    /// evaluated, and kept out of the watermark.
    public var future: UInt64 = 0
    /// Acknowledged before they left every window because the hold was full (their window state
    /// would not survive a crash).
    public var forced: UInt64 = 0
    public init() {}
  }

  /// What to do with an event on arrival.
  public enum Admission: Sendable, Equatable {
    case evaluate
    /// Older than the watermark minus the lateness bound.
    case late
    /// Beyond the aggregate's clock plus the skew bound.
    case future
  }

  /// How long after the watermark an event may still feed a window: the longest window.
  public let windowNanoseconds: Int64
  public let latenessNanoseconds: Int64
  /// How far ahead of the aggregate's clock an event may be dated and still be evaluated.
  public let futureSkewNanoseconds: Int64
  public let capacity: Int
  public private(set) var watermark = Int64.min
  public private(set) var counters = Counters()
  /// While messages that a previous instance left unacknowledged may still be redelivered (a
  /// restart's first ack wait), nothing is late and nothing is released: their events are older
  /// than what arrives new, and must still rebuild the windows.
  public var recovering = false
  /// Held entries by arrival number (unique, increasing), ordered by `order`.
  private var entries: [UInt64: (sequence: UInt64, message: Message)] = [:]
  private var order = Heap<HeldOrder>()
  private var arrivals: UInt64 = 0
  /// The arrival number of each stream sequence held, to know a redelivery of a message already
  /// evaluated.
  private var sequences: [UInt64: UInt64] = [:]

  public init(windowNanoseconds: Int64, latenessNanoseconds: Int64, capacity: Int, futureSkewNanoseconds: Int64 = .max)
  {
    self.windowNanoseconds = max(0, windowNanoseconds)
    self.latenessNanoseconds = max(0, latenessNanoseconds)
    self.futureSkewNanoseconds = max(0, futureSkewNanoseconds)
    self.capacity = max(1, capacity)
  }

  /// Whether an event of this time arrives too late to be evaluated.
  public func isLate(_ time: Int64) -> Bool {
    !recovering && watermark != .min && time < watermark.saturatingSubtraction(latenessNanoseconds)
  }

  /// Whether an event of this time is dated beyond `now` (the aggregate's clock) plus the skew
  /// bound: a bad clock or a lying sensor, which must not move the watermark and make every honest
  /// event after it late. Checked while recovering too, so that a redelivery cannot poison again.
  public func isFuture(_ time: Int64, now: Int64) -> Bool {
    time > now.saturatingAddition(futureSkewNanoseconds)
  }

  public func admission(of time: Int64, now: Int64) -> Admission {
    if isFuture(time, now: now) { return .future }
    return isLate(time) ? .late : .evaluate
  }

  public mutating func countLate() { counters.late += 1 }

  public mutating func countFuture() { counters.future += 1 }

  /// Whether the message of this stream sequence is held: delivered again while this instance
  /// holds it (an in-progress lost in an outage), it must not be evaluated twice.
  public func holds(sequence: UInt64) -> Bool { sequences[sequence] != nil }

  /// Keeps the newest delivery of a held message (acknowledging the older one would not count).
  public mutating func replace(sequence: UInt64, with message: Message) {
    if let arrival = sequences[sequence] { entries[arrival]?.message = message }
  }

  /// Holds an evaluated message; returns those to acknowledge now (left every window, in the
  /// order they arrived, then those forced out, oldest first, by a full hold). The watermark
  /// moves to `time` but never past `now`: an event dated within the skew bound ahead of the
  /// aggregate's clock feeds its windows without making the events of honest clocks late.
  public mutating func hold(_ message: Message, at time: Int64, sequence: UInt64, now: Int64 = .max) -> [Message] {
    watermark = max(watermark, min(time, now))
    let arrival = arrivals
    arrivals += 1
    entries[arrival] = (sequence, message)
    order.insert(HeldOrder(time: time, arrival: arrival))
    if sequences[sequence] == nil { sequences[sequence] = arrival }
    var out = recovering ? [] : releasable()
    while entries.count > capacity, let oldest = order.popMin() {
      out.append(remove(arrival: oldest.arrival))
      counters.forced += 1
    }
    counters.held = entries.count
    return out
  }

  /// Messages whose events left every window they could feed, in the order they arrived.
  public mutating func releasable() -> [Message] {
    guard !recovering, watermark != .min else { return [] }
    let horizon = watermark.saturatingSubtraction(latenessNanoseconds).saturatingSubtraction(windowNanoseconds)
    var arrived: [UInt64] = []
    while let oldest = order.min, oldest.time < horizon {
      _ = order.popMin()
      arrived.append(oldest.arrival)
    }
    guard !arrived.isEmpty else { return [] }
    arrived.sort()
    let out = arrived.map { remove(arrival: $0) }
    counters.released += UInt64(out.count)
    counters.held = entries.count
    return out
  }

  private mutating func remove(arrival: UInt64) -> Message {
    let entry = entries.removeValue(forKey: arrival)!
    if sequences[entry.sequence] == arrival { sequences[entry.sequence] = nil }
    return entry.message
  }

  /// Every held message, in the order they arrived, to mark in progress (so that the server does
  /// not deliver it again).
  public var held: [Message] { entries.sorted { $0.key < $1.key }.map(\.value.message) }
}

/// A held message's place in release order: the earliest event time first, then the earliest arrival.
struct HeldOrder: Comparable {
  var time: Int64
  var arrival: UInt64

  static func < (a: HeldOrder, b: HeldOrder) -> Bool {
    a.time != b.time ? a.time < b.time : a.arrival < b.arrival
  }
}

import FlowsentryCore

/// The messages of one partition that an instance has evaluated and not yet acknowledged.
///
/// A message is acknowledged only once its event can feed no window any more: its time is older
/// than the partition's watermark (the newest event time seen) minus the longest window minus the
/// lateness bound. Until then a crash leaves it unacknowledged, and the server delivers it again
/// to the restarted instance, which rebuilds its windows from it. Event time throughout: a
/// partition whose sensors fall silent keeps its messages held (in progress), never acknowledged
/// early by the wall clock.
public struct AcknowledgementHold<Message> {
  public struct Counters: Sendable, Equatable {
    public var held = 0
    public var released: UInt64 = 0
    /// Older than the watermark minus the lateness bound on arrival: acknowledged, not evaluated.
    public var late: UInt64 = 0
    /// Acknowledged before they left every window because the hold was full (their window state
    /// would not survive a crash).
    public var forced: UInt64 = 0
    public init() {}
  }

  /// How long after the watermark an event may still feed a window: the longest window.
  public let windowNanoseconds: Int64
  public let latenessNanoseconds: Int64
  public let capacity: Int
  public private(set) var watermark = Int64.min
  public private(set) var counters = Counters()
  /// While messages that a previous instance left unacknowledged may still be redelivered (a
  /// restart's first ack wait), nothing is late and nothing is released: their events are older
  /// than what arrives new, and must still rebuild the windows.
  public var recovering = false
  private var messages: [(time: Int64, sequence: UInt64, message: Message)] = []
  /// The stream sequences held, to know a redelivery of a message already evaluated.
  private var sequences: Set<UInt64> = []

  public init(windowNanoseconds: Int64, latenessNanoseconds: Int64, capacity: Int) {
    self.windowNanoseconds = max(0, windowNanoseconds)
    self.latenessNanoseconds = max(0, latenessNanoseconds)
    self.capacity = max(1, capacity)
  }

  /// Whether an event of this time arrives too late to be evaluated.
  public func isLate(_ time: Int64) -> Bool {
    !recovering && watermark != .min && time < watermark.saturatingSubtraction(latenessNanoseconds)
  }

  public mutating func countLate() { counters.late += 1 }

  /// Whether the message of this stream sequence is held: delivered again while this instance
  /// holds it (an in-progress lost in an outage), it must not be evaluated twice.
  public func holds(sequence: UInt64) -> Bool { sequences.contains(sequence) }

  /// Keeps the newest delivery of a held message (acknowledging the older one would not count).
  public mutating func replace(sequence: UInt64, with message: Message) {
    if let index = messages.firstIndex(where: { $0.sequence == sequence }) { messages[index].message = message }
  }

  /// Holds an evaluated message; returns those to acknowledge now (left every window, or forced
  /// out, oldest first, by a full hold).
  public mutating func hold(_ message: Message, at time: Int64, sequence: UInt64) -> [Message] {
    watermark = max(watermark, time)
    messages.append((time, sequence, message))
    sequences.insert(sequence)
    var out = recovering ? [] : releasable()
    while messages.count > capacity, let oldest = messages.indices.min(by: { messages[$0].time < messages[$1].time }) {
      let entry = messages.remove(at: oldest)
      sequences.remove(entry.sequence)
      out.append(entry.message)
      counters.forced += 1
    }
    counters.held = messages.count
    return out
  }

  /// Messages whose events left every window they could feed.
  public mutating func releasable() -> [Message] {
    guard !recovering, watermark != .min else { return [] }
    let horizon = watermark.saturatingSubtraction(latenessNanoseconds).saturatingSubtraction(windowNanoseconds)
    guard messages.contains(where: { $0.time < horizon }) else { return [] }
    var out: [Message] = []
    messages.removeAll { entry in
      guard entry.time < horizon else { return false }
      out.append(entry.message)
      sequences.remove(entry.sequence)
      return true
    }
    counters.released += UInt64(out.count)
    counters.held = messages.count
    return out
  }

  /// Every held message, to mark in progress (so that the server does not deliver it again).
  public var held: [Message] { messages.map(\.message) }
}

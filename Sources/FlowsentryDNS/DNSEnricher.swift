import FlowsentryCore

/// The enrichment stage: matches DNS answers to the questions local sockets asked, reads the
/// accepted ones into the cache, names flow endpoints from it, and turns each accepted answer into
/// a `net_packet_dns` event.
public struct DNSEnricher {
  public struct Configuration: Sendable {
    public var cache = DNSCache.Configuration()
    /// Questions waiting for their answer at most; beyond it the least recently asked is given up on
    /// at once and reported as unanswered (`answered: false`).
    public var pendingQuestions = 16_384
    /// How long a question waits for its answer.
    public var questionTimeoutNanoseconds: Int64 = 30_000_000_000
    public init() {}
  }

  public struct Counters: Sendable, Equatable {
    public var messages: UInt64 = 0
    /// Messages that could not be parsed at all: counted and dropped.
    public var malformed: UInt64 = 0
    /// Messages whose answers ran out before their end (cut in transit or by the capture cap).
    public var incomplete: UInt64 = 0
    /// Questions sent by local sockets.
    public var questions: UInt64 = 0
    /// Answers to those questions, accepted into the cache.
    public var answered: UInt64 = 0
    /// Answers that reached a local socket without a matching question: ignored.
    public var unsolicited: UInt64 = 0
    /// Answers that came after the question's timeout: ignored.
    public var late: UInt64 = 0
    /// Questions given up on before their timeout because `pendingQuestions` were waiting: each
    /// reported at once by an event (`answered: false`) unless a retry of it was answered.
    public var questionsEvicted: UInt64 = 0
    /// Questions no answer came to within the timeout, or before the input ended or the monitor
    /// stopped: each reported by an event (`answered: false`).
    public var questionsUnanswered: UInt64 = 0
    /// Questions the timeout passed whose client had an answer to a retry of them (the same name and
    /// type, from another port or with another id): not reported.
    public var questionsAnsweredOnRetry: UInt64 = 0
    public var questionsPending: Int = 0
    /// Questions that reached, and answers that left, a local DNS server: its clients' business.
    public var served: UInt64 = 0
    public var cache = DNSCache.Counters()
    public init() {}
  }

  public private(set) var cache: DNSCache
  private var parsingCounters = Counters()
  private var matcher: QuestionMatcher

  public init(configuration: Configuration = Configuration()) {
    cache = DNSCache(configuration: configuration.cache)
    matcher = QuestionMatcher(
      capacity: configuration.pendingQuestions, timeoutNanoseconds: configuration.questionTimeoutNanoseconds)
  }

  public var counters: Counters {
    var counters = parsingCounters
    counters.cache = cache.counters
    let matching = matcher.counters
    counters.questions = matching.asked
    counters.answered = matching.answered
    counters.unsolicited = matching.unsolicited
    counters.late = matching.late
    counters.questionsEvicted = matching.evicted
    counters.questionsUnanswered = matching.unanswered
    counters.questionsAnsweredOnRetry = matching.answeredOnRetry
    counters.questionsPending = matching.pending
    return counters
  }

  /// Parses a message. A question a local socket sent is remembered; an answer that reached a
  /// local socket is cached and returned as an event only when it answers such a question.
  /// Everything else returns nil, counted. A question that pushes another out of the pending bound
  /// makes `nextQuestionExpiry` the earliest time: call `expireQuestions` then, as the pipeline does
  /// after each record, to take its event (held until then, one a question).
  public mutating func observe(_ packet: DNSPacketObservation) -> DNSEvent? {
    parsingCounters.messages += 1
    let message: DNSMessage
    do {
      message = try DNSParser.parse(packet.payload)
    } catch {
      parsingCounters.malformed += 1
      return nil
    }
    switch (message.isResponse, packet.hook) {
    case (false, .egress):
      matcher.asked(message, in: packet)
      return nil
    case (true, .ingress):
      guard matcher.accepts(message, in: packet) else { return nil }
    default:
      parsingCounters.served += 1
      return nil
    }
    let cut = message.incomplete || packet.messageLength > packet.payload.count
    if message.incomplete { parsingCounters.incomplete += 1 }
    cache.insert(message, at: packet.timestamp, networkNamespace: packet.networkNamespace)
    return DNSEvent(
      timestamp: packet.timestamp, source: packet.source, destination: packet.destination,
      transport: packet.transport, cgroupID: packet.cgroupID, id: message.id, responseCode: message.responseCode,
      questions: message.questions,
      answers: message.answers.map { answer in
        switch answer.data {
        case .address(let address):
          return .init(
            name: answer.name, type: address.isIPv4 ? "A" : "AAAA", timeToLive: answer.timeToLive,
            data: address.description)
        case .canonicalName(let target):
          return .init(name: answer.name, type: "CNAME", timeToLive: answer.timeToLive, data: target)
        }
      },
      truncated: cut || message.isTruncated)
  }

  /// No question is given up on before this time (`expireQuestions`): a record earlier than it has
  /// nothing to expire. A question pushed out at the pending bound makes it the earliest time, so
  /// that the next check reports it.
  public var nextQuestionExpiry: WallClockNanoseconds { matcher.nextExpiry }

  /// Gives up on the questions `now` is past the timeout of (and the allowance for records out of
  /// order, `QuestionMatcher.recordLateness`) with no answer, and appends an event for each
  /// (`answered: false`), as the answer would have read: from the server to the asking socket, with
  /// the question and no answers, at the time the timeout passed.
  public mutating func expireQuestions(at now: WallClockNanoseconds, into events: inout [DNSEvent]) {
    guard now > matcher.nextExpiry else { return }
    matcher.expire(at: now, into: &events)
  }

  /// Gives up on every question still waiting, whatever its age, and appends an event for each as
  /// `expireQuestions` does, in the order they were asked, at the time its timeout would have passed
  /// or at `now` if earlier: the input ended (a replay's last file, with no `now`; the monitor's
  /// stop, at the time it stopped), so no answer will be read. Counted in `questionsUnanswered`.
  public mutating func expireAllQuestions(at now: WallClockNanoseconds = .max, into events: inout [DNSEvent]) {
    matcher.expireAll(at: now, into: &events)
  }

  /// Fills `src_dns` and `dst_dns` from the cache, as of the event's time, with the names its own
  /// network namespace resolved.
  public mutating func enrich(_ event: inout FlowEvent) {
    let namespace = event.networkNamespace
    event.sourceNames = cache.names(for: event.source.address, at: event.timestamp, networkNamespace: namespace)
    event.destinationNames = cache.names(
      for: event.destination.address, at: event.timestamp, networkNamespace: namespace)
  }
}

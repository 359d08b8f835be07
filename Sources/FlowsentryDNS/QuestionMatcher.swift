import FlowsentryCore

/// The questions watched local sockets asked and that are still unanswered; an answer is accepted
/// only when it answers one of them: the same endpoints reversed, transport, network namespace and
/// transaction id, the same question name and type, within `timeout`. Anything else — an answer
/// nobody asked for, a second answer to one question, an answer to a question of another namespace
/// — is refused, so an attacker who can send packets cannot put names into the cache.
///
/// A question no answer came to within `timeout` is given up on once the pipeline's clock is
/// `recordLateness` past that (`expire`: records from another CPU, and the capture's tick, may come
/// that much out of order, and an answer in time must still find its question), and reported
/// unanswered, unless the client got an answer to the same name and type after asking it (a retry
/// from another port or with another id). It is remembered a while longer, so that its answer,
/// should it come after all, counts as late rather than unsolicited. When a replay's input ends, or
/// the monitor stops, every question still pending is given up on the same way (`expireAll`): no
/// answer to it will be read, and a lookup left pending would otherwise leave no event at all.
///
/// Bounded to `capacity` questions; beyond it the least recently asked is given up on at once
/// (counted as evicted) and reported as a timed-out one is, at the time it was pushed out: a flood
/// of lookups must not hide the one among them that a rule is looking for, and it costs one event a
/// question, as answers do. The questions remembered after they expired, and the recent answers retries are matched with,
/// are bounded the same way; what falls out of those is only less precise (a late answer counted
/// as unsolicited, a retried question reported), never unbounded.
struct QuestionMatcher {
  struct Counters: Sendable, Equatable {
    var asked: UInt64 = 0
    var answered: UInt64 = 0
    var unsolicited: UInt64 = 0
    /// Answers that came after the timeout: refused like unsolicited ones, counted apart.
    var late: UInt64 = 0
    /// Questions given up on before their timeout because `capacity` were waiting: each reported
    /// as an unanswered one is, unless a retry of it was answered.
    var evicted: UInt64 = 0
    /// Questions the timeout passed with no answer: each reported once.
    var unanswered: UInt64 = 0
    /// Questions the timeout passed whose client had an answer to a retry of them: not reported.
    var answeredOnRetry: UInt64 = 0
    var pending: Int = 0
  }

  private struct Key: Hashable {
    var client: Endpoint
    var server: Endpoint
    var id: UInt16
    var transport: DNSPacketObservation.Transport
    var networkNamespace: UInt64
  }

  private struct Question {
    var name: String
    var type: UInt16
    var askedAt: WallClockNanoseconds
    var cgroupID: UInt64
  }

  /// A client's lookup, whatever port or id asked it: what a retry has in common with the question.
  private struct Lookup: Hashable {
    var client: IPAddress
    var networkNamespace: UInt64
    /// ASCII lower case: resolvers may randomise the case (0x20 encoding).
    var name: String
    var type: UInt16

    init(_ key: Key, _ question: Question) {
      client = key.client.address
      networkNamespace = key.networkNamespace
      name = String(decoding: question.name.utf8.map(ASCIICaseFolding.lowercased), as: UTF8.self)
      type = question.type
    }
  }

  /// How far out of order a record may come and still be taken in time: a question is given up on
  /// only once the clock is this far past its timeout.
  static let recordLateness: Int64 = 2_000_000_000

  private(set) var counters = Counters()
  private var pending: LRUDictionary<Key, Question>
  private var expired: LRUDictionary<Key, Question>
  /// When each recent lookup was last answered.
  private var answeredLookups: LRUDictionary<Lookup, WallClockNanoseconds>
  private let timeout: Int64
  /// Questions pushed out at the bound, reported by the next `expire` (which `nextExpiry` calls for
  /// at once): `asked` has no events to append to.
  private var givenUpEarly: [DNSEvent] = []
  /// No pending question expires before this (it may be earlier than the oldest's real expiry,
  /// never later): the pipeline compares it with each record's time, which costs no lookup.
  private(set) var nextExpiry = WallClockNanoseconds.max

  init(capacity: Int, timeoutNanoseconds: Int64) {
    pending = LRUDictionary(capacity: capacity)
    expired = LRUDictionary(capacity: capacity)
    answeredLookups = LRUDictionary(capacity: capacity)
    timeout = max(0, timeoutNanoseconds)
  }

  private var giveUpAfter: Int64 { timeout.saturatingAddition(Self.recordLateness) }

  /// Gives up on the questions `now` is past the timeout of, oldest first, appending those no retry
  /// was answered for to `unanswered`. Questions are kept in the order they were asked; one asked
  /// out of order waits for the one before it. One dated past `now` by more than the timeout (the
  /// wall clock stepped back, or a capture's hostile time) is given up on now: otherwise it would
  /// hold back every question after it.
  /// Each is appended as its event (`answered: false`), as the answer would have read: from the
  /// server to the asking socket, with the question and no answers, at the time the timeout passed.
  mutating func expire(at now: WallClockNanoseconds, into unanswered: inout [DNSEvent]) {
    guard now > nextExpiry else { return }
    giveUp(at: now, onEveryQuestion: false, into: &unanswered)
  }

  /// Gives up on every pending question, oldest first, as `expire` does once their time passed:
  /// the input ended (a replay's last file, the monitor's stop), so no answer will be read. Each is
  /// reported at the time its timeout would have passed, or at `now` when that is earlier (the
  /// monitor's stop: an event dated after the sensor stopped would be read as seen then), and a
  /// question whose retry was answered is folded as there.
  mutating func expireAll(at now: WallClockNanoseconds = .max, into unanswered: inout [DNSEvent]) {
    giveUp(at: now, onEveryQuestion: true, into: &unanswered)
  }

  /// `expire`'s loop; `onEveryQuestion` skips the age check, so that no question's time (however
  /// close to the clock's end) keeps it, or those after it, pending.
  private mutating func giveUp(
    at now: WallClockNanoseconds, onEveryQuestion: Bool, into unanswered: inout [DNSEvent]
  ) {
    while let oldest = pending.oldestEntry {
      if !onEveryQuestion {
        let age = now.saturatingSubtraction(oldest.value.askedAt)
        guard age > giveUpAfter || age < -giveUpAfter else { break }
      }
      let (key, question) = oldest
      pending.removeOldest()
      if let event = report(question, askedBy: key, at: now) {
        counters.unanswered += 1
        unanswered.append(event)
      }
    }
    // After those: each is dated when it was pushed out, at the time of a record `now` is at or past
    // (the pipeline expires right after the record that pushed it), and those above at or before.
    if !givenUpEarly.isEmpty {
      unanswered.append(contentsOf: givenUpEarly)
      givenUpEarly.removeAll(keepingCapacity: true)
    }
    resetNextExpiry()
  }

  /// The event of a question given up on at `now` (remembered as expired, so that its answer, should
  /// it come, counts as late), or nil when its client had an answer to a retry of it (counted).
  private mutating func report(_ question: Question, askedBy key: Key, at now: WallClockNanoseconds) -> DNSEvent? {
    expired.insert(question, for: key)
    let lookup = Lookup(key, question)
    if let answeredAt = answeredLookups.peek(lookup), answeredAt >= question.askedAt {
      counters.answeredOnRetry += 1
      return nil
    }
    var event = DNSEvent(
      timestamp: min(question.askedAt.saturatingAddition(timeout), now), source: key.server,
      destination: key.client, transport: key.transport, cgroupID: question.cgroupID, id: key.id, responseCode: 0,
      questions: [question.name], answers: [], truncated: false)
    event.answered = false
    return event
  }

  private mutating func resetNextExpiry() {
    nextExpiry =
      givenUpEarly.isEmpty
      ? pending.oldestEntry.map { $0.value.askedAt.saturatingAddition(giveUpAfter) } ?? .max : .min
    counters.pending = pending.count
  }

  /// A question a local socket sent.
  mutating func asked(_ message: DNSMessage, in packet: DNSPacketObservation) {
    guard let name = message.questions.first, let type = message.questionTypes.first else { return }
    let key = Key(
      client: packet.source, server: packet.destination, id: message.id, transport: packet.transport,
      networkNamespace: packet.networkNamespace)
    counters.asked += 1
    let question = Question(name: name, type: type, askedAt: packet.timestamp, cgroupID: packet.cgroupID)
    if let pushedOut = pending.insert(question, for: key) {
      counters.evicted += 1
      if let event = report(pushedOut.value, askedBy: pushedOut.key, at: packet.timestamp) {
        givenUpEarly.append(event)
      }
    }
    // A question dated well before the others also moves the check earlier: it will be let go of
    // (`expire`) then, and the check set again from what remains. One pushed out is due at once.
    nextExpiry =
      givenUpEarly.isEmpty ? min(nextExpiry, packet.timestamp.saturatingAddition(giveUpAfter)) : .min
    counters.pending = pending.count
  }

  /// Whether an answer that reached a local socket answers a pending question; consumes it if so.
  mutating func accepts(_ message: DNSMessage, in packet: DNSPacketObservation) -> Bool {
    let key = Key(
      client: packet.destination, server: packet.source, id: message.id, transport: packet.transport,
      networkNamespace: packet.networkNamespace)
    // A wrong guess must not consume the real question: look first, remove only on a full match.
    guard let question = pending.peek(key), Self.answers(message, question) else {
      if let question = expired.peek(key), Self.answers(message, question) {
        _ = expired.removeValue(for: key)
        counters.late += 1
      } else {
        counters.unsolicited += 1
      }
      return false
    }
    _ = pending.removeValue(for: key)
    counters.pending = pending.count
    guard packet.timestamp.saturatingSubtraction(question.askedAt) <= timeout else {
      counters.late += 1
      return false
    }
    counters.answered += 1
    answeredLookups.insert(packet.timestamp, for: Lookup(key, question))
    return true
  }

  private static func answers(_ message: DNSMessage, _ question: Question) -> Bool {
    guard let name = message.questions.first else { return false }
    return message.questionTypes.first == question.type && sameName(name, question.name)
  }

  /// DNS names compare without regard to ASCII case (RFC 4343); resolvers that randomise the case
  /// of the question (0x20 encoding) echo it exactly, so either way the names match.
  private static func sameName(_ a: String, _ b: String) -> Bool {
    a.utf8.elementsEqual(b.utf8) { x, y in
      (x | (x >= 65 && x <= 90 ? 0x20 : 0)) == (y | (y >= 65 && y <= 90 ? 0x20 : 0))
    }
  }
}

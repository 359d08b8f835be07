import FlowsentryCore

/// The questions watched local sockets asked and that are still unanswered; an answer is accepted
/// only when it answers one of them: the same endpoints reversed, transport, network namespace and
/// transaction id, the same question name and type, within `timeout`. Anything else — an answer
/// nobody asked for, a second answer to one question, an answer to a question of another namespace
/// — is refused, so an attacker who can send packets cannot put names into the cache.
///
/// Bounded to `capacity` questions; the least recently asked is evicted (and counted) beyond it.
struct QuestionMatcher {
  struct Counters: Sendable, Equatable {
    var asked: UInt64 = 0
    var answered: UInt64 = 0
    var unsolicited: UInt64 = 0
    /// Answers that came after the timeout: refused like unsolicited ones, counted apart.
    var late: UInt64 = 0
    var evicted: UInt64 = 0
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
  }

  private(set) var counters = Counters()
  private var pending: LRUDictionary<Key, Question>
  private let timeout: Int64

  init(capacity: Int, timeoutNanoseconds: Int64) {
    pending = LRUDictionary(capacity: capacity)
    timeout = timeoutNanoseconds
  }

  /// A question a local socket sent.
  mutating func asked(_ message: DNSMessage, in packet: DNSPacketObservation) {
    guard let name = message.questions.first, let type = message.questionTypes.first else { return }
    let key = Key(
      client: packet.source, server: packet.destination, id: message.id, transport: packet.transport,
      networkNamespace: packet.networkNamespace)
    counters.asked += 1
    if pending.insert(Question(name: name, type: type, askedAt: packet.timestamp), for: key) != nil {
      counters.evicted += 1
    }
    counters.pending = pending.count
  }

  /// Whether an answer that reached a local socket answers a pending question; consumes it if so.
  mutating func accepts(_ message: DNSMessage, in packet: DNSPacketObservation) -> Bool {
    let key = Key(
      client: packet.destination, server: packet.source, id: message.id, transport: packet.transport,
      networkNamespace: packet.networkNamespace)
    // A wrong guess must not consume the real question: look first, remove only on a full match.
    guard let question = pending.peek(key), let name = message.questions.first,
      message.questionTypes.first == question.type, Self.sameName(name, question.name)
    else {
      counters.unsolicited += 1
      return false
    }
    _ = pending.removeValue(for: key)
    counters.pending = pending.count
    guard packet.timestamp - question.askedAt <= timeout else {
      counters.late += 1
      return false
    }
    counters.answered += 1
    return true
  }

  /// DNS names compare without regard to ASCII case (RFC 4343); resolvers that randomise the case
  /// of the question (0x20 encoding) echo it exactly, so either way the names match.
  private static func sameName(_ a: String, _ b: String) -> Bool {
    a.utf8.elementsEqual(b.utf8) { x, y in
      (x | (x >= 65 && x <= 90 ? 0x20 : 0)) == (y | (y >= 65 && y <= 90 ? 0x20 : 0))
    }
  }
}

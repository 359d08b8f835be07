import FlowsentryCore

/// The enrichment stage: reads DNS responses into the cache, names flow endpoints from it, and
/// turns each response into a `net_packet_dns` event.
public struct DNSEnricher {
  public struct Counters: Sendable, Equatable {
    public var messages: UInt64 = 0
    /// Messages that could not be parsed at all: counted and dropped.
    public var malformed: UInt64 = 0
    /// Messages whose answers ran out before their end (cut in transit or by the capture cap).
    public var incomplete: UInt64 = 0
    public var cache = DNSCache.Counters()
    public init() {}
  }

  public private(set) var cache: DNSCache
  private var parsingCounters = Counters()

  public init(configuration: DNSCache.Configuration = DNSCache.Configuration()) {
    cache = DNSCache(configuration: configuration)
  }

  public var counters: Counters {
    var counters = parsingCounters
    counters.cache = cache.counters
    return counters
  }

  /// Parses a response, caches what it resolved, and returns it as an event (nil when malformed).
  public mutating func observe(_ packet: DNSPacketObservation) -> DNSEvent? {
    parsingCounters.messages += 1
    let message: DNSMessage
    do {
      message = try DNSParser.parse(packet.payload)
    } catch {
      parsingCounters.malformed += 1
      return nil
    }
    let cut = message.incomplete || packet.messageLength > packet.payload.count
    if message.incomplete { parsingCounters.incomplete += 1 }
    cache.insert(message, at: packet.timestamp)
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

  /// Fills `src_dns` and `dst_dns` from the cache, as of the event's time.
  public mutating func enrich(_ event: inout FlowEvent) {
    event.sourceNames = cache.names(for: event.source.address, at: event.timestamp)
    event.destinationNames = cache.names(for: event.destination.address, at: event.timestamp)
  }
}

/// A DNS message seen leaving or reaching a local socket to or from a DNS port: a question or an answer.
public struct DNSPacketObservation: Sendable {
  public enum Transport: String, Sendable {
    case udp
    case tcp
  }

  public var timestamp: WallClockNanoseconds
  public var hook: Hook
  public var source: Endpoint
  public var destination: Endpoint
  public var transport: Transport
  public var cgroupID: UInt64
  /// The network namespace the message was seen in (0 when unknown): answers name flows only there.
  public var networkNamespace: UInt64
  /// The message's size on the wire; larger than `payload.count` when the capture cut it.
  public var messageLength: Int
  public var payload: [UInt8]

  public init(
    timestamp: WallClockNanoseconds, hook: Hook, source: Endpoint, destination: Endpoint, transport: Transport,
    cgroupID: UInt64 = 0, networkNamespace: UInt64 = 0, messageLength: Int, payload: [UInt8]
  ) {
    self.networkNamespace = networkNamespace
    self.timestamp = timestamp
    self.hook = hook
    self.source = source
    self.destination = destination
    self.transport = transport
    self.cgroupID = cgroupID
    self.messageLength = messageLength
    self.payload = payload
  }
}

/// What capture hands to the pipeline, in the kernel's order: an answer always comes before the
/// flows it names.
public enum CapturedRecord: Sendable {
  case tcp(TCPPacketObservation)
  case socket(SocketStateChange)
  case dns(DNSPacketObservation)
  case halfOpen(HalfOpenObservation)
  /// The capture's clock moved on with nothing to report (once a second, live): what waits for a
  /// time (a question's answer) can be given up on while the host is quiet.
  case tick(WallClockNanoseconds)

  /// When the record was seen.
  public var timestamp: WallClockNanoseconds {
    switch self {
    case .tcp(let packet): return packet.timestamp
    case .socket(let change): return change.timestamp
    case .dns(let packet): return packet.timestamp
    case .halfOpen(let attempt): return attempt.timestamp
    case .tick(let time): return time
    }
  }
}

/// `net_packet_dns`: a DNS response and what it resolved.
public struct DNSEvent: Hashable, Sendable {
  public struct Answer: Hashable, Sendable {
    public var name: String
    /// "A", "AAAA" or "CNAME".
    public var type: String
    public var timeToLive: UInt32
    /// The address, or the canonical name.
    public var data: String

    public init(name: String, type: String, timeToLive: UInt32, data: String) {
      self.name = name
      self.type = type
      self.timeToLive = timeToLive
      self.data = data
    }
  }

  public var timestamp: WallClockNanoseconds
  public var source: Endpoint
  public var destination: Endpoint
  public var transport: DNSPacketObservation.Transport
  public var cgroupID: UInt64
  public var id: UInt16
  public var responseCode: UInt8
  public var questions: [String]
  public var answers: [Answer]
  /// The message was cut (by the server's TC bit, in transit, or by the capture cap).
  public var truncated: Bool
  /// False for a question no answer came to within the question timeout (a resolver down, a DNS
  /// firewall dropping it): the event then reads as the answer would have (from the server to the
  /// asking socket), with the question and no answers.
  public var answered = true
  /// The sensor that saw it (`host:`); empty until an output or a recording names it.
  public var host = ""

  public init(
    timestamp: WallClockNanoseconds, source: Endpoint, destination: Endpoint,
    transport: DNSPacketObservation.Transport, cgroupID: UInt64, id: UInt16, responseCode: UInt8,
    questions: [String], answers: [Answer], truncated: Bool
  ) {
    self.timestamp = timestamp
    self.source = source
    self.destination = destination
    self.transport = transport
    self.cgroupID = cgroupID
    self.id = id
    self.responseCode = responseCode
    self.questions = questions
    self.answers = answers
    self.truncated = truncated
  }
}

/// Every kind of event the sensor emits.
public enum SensorEvent: Hashable, Sendable {
  case flow(FlowEvent)
  case dns(DNSEvent)

  public var name: EventName {
    switch self {
    case .flow(let event): return event.name
    case .dns: return .netPacketDNS
    }
  }

  public var timestamp: WallClockNanoseconds {
    switch self {
    case .flow(let event): return event.timestamp
    case .dns(let event): return event.timestamp
    }
  }

  /// The sensor that saw it; empty when not named.
  public var host: String {
    switch self {
    case .flow(let event): return event.host
    case .dns(let event): return event.host
    }
  }
}

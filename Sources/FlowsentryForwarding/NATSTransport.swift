import FlowsentryCore
import FlowsentryNATS
import FlowsentrySpool

/// What a `nats://` output counts besides every output's counters.
public struct NATSPublishCounters: Sendable, Equatable {
  /// Messages handed to libnats (resends included).
  public var published: UInt64 = 0
  /// Acknowledgements from JetStream (stream and sequence): what the spool commits.
  public var acknowledged: UInt64 = 0
  /// Acknowledgements flagged `duplicate`: a resend the stream had already stored within its
  /// duplicate window, stored once.
  public var duplicates: UInt64 = 0
  /// Connections built anew because libnats had closed the previous one for good.
  public var connectionsRebuilt: UInt64 = 0
  /// Failures by `NATSError.kind` (`no_stream`, `authentication`, `payload_too_large`, `timeout`, …).
  public var errors: [String: UInt64] = [:]
  public init() {}
}

/// Publishes spooled records to JetStream through libnats, from the output's own thread (every
/// libnats call here may block). A record is delivered only when its acknowledgement arrived,
/// and the spool commits the longest run of delivered records from the oldest one sent; one
/// connection serves the output's life, libnats reconnecting and failing over by itself. A message
/// over the server's `max_payload` goes to the dead-letter file (no resend can fix it); a subject
/// no stream listens on, a timeout or a disconnect sends the unacknowledged records again after a
/// backoff, and the stream drops those it already stored by their `Nats-Msg-Id`.
final class NATSTransport: Transport {
  private let configuration: OutputConfiguration
  private let deadLetters: DeadLetterFile
  private var publisher: JetStreamPublisher?
  private(set) var counters = NATSPublishCounters()
  private(set) var deadLettered: UInt64 = 0

  /// Sequences sent and not yet part of a commit, oldest first; `settled` holds those acknowledged
  /// (or dead-lettered) out of order.
  private var sent: [UInt64] = []
  private var sentHead = 0
  private var settled: Set<UInt64> = []
  private var settledThrough: UInt64?
  /// What is in flight by sequence, so that a refusal that comes with the acknowledgement (over the
  /// stream's `max_msg_size`) can still write the record to the dead-letter file.
  private var inFlight: [UInt64: Spool.Record] = [:]

  init(configuration: OutputConfiguration, deadLetters: DeadLetterFile) {
    self.configuration = configuration
    self.deadLetters = deadLetters
  }

  /// Connects the first time, and again once libnats closed the connection for good (it then never
  /// reconnects: a rotated credential refused twice, say), so that the credential files are read
  /// anew; afterwards forgets what was in flight, which the output sends again.
  func open() throws(TransportError) {
    if publisher?.connection.isClosed == true {
      publisher = nil
      counters.connectionsRebuilt += 1
    }
    if publisher == nil {
      var options = NATSConnectionOptions(servers: configuration.nats.urls)
      options.name = "flowsentry-\(configuration.name)"
      options.credentials = configuration.nats.credentials
      options.caFile = configuration.tls.caFile
      options.certificateFile = configuration.tls.certificateFile
      options.keyFile = configuration.tls.keyFile
      options.serverName = configuration.tls.serverName
      options.verifyCertificate = configuration.tls.verify
      // Any TLS key asks for TLS, whichever it is: never plaintext because only server_name was given.
      options.requireTLS = configuration.tls != OutputConfiguration.TLS()
      options.connectTimeoutMilliseconds = Int64(configuration.connectTimeoutMilliseconds)
      options.reconnectWaitMilliseconds = Int64(configuration.retryInitialMilliseconds)
      do {
        let connection = try NATSConnection(options)
        publisher = try JetStreamPublisher(
          connection: connection, maximumPending: configuration.maximumInFlight + configuration.batchRecords,
          acknowledgementTimeoutMilliseconds: Int64(configuration.nats.acknowledgementTimeoutMilliseconds))
      } catch {
        count(error)
        throw Self.transportError(error)
      }
    }
    publisher?.abandonInFlight()
    sent.removeAll()
    sentHead = 0
    settled.removeAll()
    settledThrough = nil
    inFlight.removeAll()
  }

  var unacknowledged: Int { sent.count - sentHead }

  func send(_ records: [Spool.Record]) throws(TransportError) {
    guard let publisher else { throw .broken("not connected") }
    for record in records {
      sent.append(record.sequence)
      guard let envelope = NATSEnvelope.decode(record.payload) else {
        deadLetter(record, reason: "not a NATS envelope (subject, id, body)")
        continue
      }
      do {
        try publisher.publishAsync(
          subject: envelope.subject, messageID: envelope.messageID, payload: envelope.body, token: record.sequence)
        counters.published += 1
        inFlight[record.sequence] = record
      } catch .payloadTooLarge(let size, let maximum) {
        count(.payloadTooLarge(size: size, maximum: maximum))
        deadLetter(record, reason: "\(size) bytes is over the server's max_payload \(maximum)")
      } catch {
        count(error)
        throw Self.transportError(error)
      }
    }
  }

  func acknowledged() throws(TransportError) -> UInt64? {
    var failure: NATSError?
    for outcome in publisher?.takeResults() ?? [] {
      let record = inFlight.removeValue(forKey: outcome.token)
      switch outcome.result {
      case .success(let ack):
        counters.acknowledged += 1
        if ack.duplicate { counters.duplicates += 1 }
        settled.insert(outcome.token)
      case .failure(let error):
        count(error)
        if case .payloadTooLarge = error {
          if let record { deadLetter(record, reason: error.description) } else { settled.insert(outcome.token) }
        } else if failure == nil {
          failure = error
        }
      }
    }
    advance()
    if let failure {
      throw Self.transportError(failure)
    }
    // A closed connection reports nothing more for what is in flight: without this, the output
    // would wait on those records for ever.
    if let publisher, publisher.connection.isClosed {
      let error = publisher.connection.lastError ?? .disconnected("the connection was closed")
      count(error)
      throw Self.transportError(error)
    }
    defer { settledThrough = nil }
    return settledThrough
  }

  /// What was acknowledged before a failure, committed all the same.
  func salvage() -> UInt64? {
    advance()
    defer { settledThrough = nil }
    return settledThrough
  }

  private func advance() {
    while sentHead < sent.count, settled.remove(sent[sentHead]) != nil {
      settledThrough = sent[sentHead]
      sentHead += 1
    }
    if sentHead > 1024, sentHead * 2 > sent.count {
      sent.removeFirst(sentHead)
      sentHead = 0
    }
  }

  private func deadLetter(_ record: Spool.Record, reason: String) {
    deadLetters.write(record, reason: reason)
    deadLettered += 1
    settled.insert(record.sequence)
  }

  private func count(_ error: NATSError) { counters.errors[error.kind, default: 0] += 1 }

  static func transportError(_ error: NATSError) -> TransportError {
    switch error {
    case .disconnected(let text): return .unreachable("NATS: \(text)")
    case .configuration(let text): return .unreachable("NATS: \(text)")
    default: return .broken("NATS: \(error)")
    }
  }
}

/// Transports that refuse some records for good and write them to the dead-letter file.
protocol DeadLetteringTransport: AnyObject {
  var deadLettered: UInt64 { get }
}

extension HTTPTransport: DeadLetteringTransport {}
extension NATSTransport: DeadLetteringTransport {}

extension NATSPublishCounters {
  /// A `nats://` output's own rows of the counter table, every error kind listed at zero too.
  public func samples(output name: String) -> [MetricSample] {
    let output = [("output", name)]
    var samples: [MetricSample] = [
      .counter(
        "flowsentry_output_nats_published_total", published, output,
        help: "Messages published to JetStream, resends included."),
      .counter(
        "flowsentry_output_nats_acknowledged_total", acknowledged, output,
        help: "JetStream acknowledgements (stream and sequence) received."),
      .counter(
        "flowsentry_output_nats_duplicates_total", duplicates, output,
        help: "Acknowledgements flagged duplicate: resends the stream had stored already."),
    ]
    for kind in NATSError.kinds {
      samples.append(
        .counter(
          "flowsentry_output_nats_errors_total", errors[kind] ?? 0, output + [("kind", kind)],
          help: "NATS publish and connection failures, by kind."))
    }
    return samples
  }
}

import CFlowsentryNATS
import Foundation

/// What JetStream answered for a stored message: the stream, its sequence there, and whether the
/// stream had already stored a message with this `Nats-Msg-Id` within its duplicate window.
public struct JetStreamAck: Sendable, Equatable {
  public var stream: String
  public var sequence: UInt64
  public var duplicate: Bool
}

/// Publishes to JetStream over one connection. Each message carries `Nats-Msg-Id` and counts as
/// stored only when its acknowledgement (stream and sequence) arrives; an asynchronous publish
/// reports each message's outcome, by the caller's token, through `takeResults()`. At most
/// `maximumPending` publishes are unacknowledged at a time (libnats stalls, then fails, past it).
public final class JetStreamPublisher: @unchecked Sendable {
  public struct Outcome: Sendable {
    public var token: UInt64
    public var result: Result<JetStreamAck, NATSError>
  }

  public let connection: NATSConnection
  public let acknowledgementTimeoutMilliseconds: Int64
  let context: OpaquePointer
  private let box: AcknowledgementBox

  /// The longest a publish waits for room in a full window of unacknowledged messages.
  static let longestStallMilliseconds: Int64 = 250

  /// - Parameters:
  ///   - maximumPending: asynchronous publishes unacknowledged at a time.
  ///   - acknowledgementTimeoutMilliseconds: how long a message waits for its acknowledgement
  ///     before it is reported as timed out (stored or not: the caller sends it again, and the
  ///     stream drops the copy by its id).

  public init(
    connection: NATSConnection, maximumPending: Int = 1_024, acknowledgementTimeoutMilliseconds: Int64 = 5_000
  )
    throws(NATSError)
  {
    self.connection = connection
    self.acknowledgementTimeoutMilliseconds = acknowledgementTimeoutMilliseconds
    // Released never: libnats may call the handler until the connection is gone, and one box per
    // publisher (one per output, and one more each time a closed connection is built anew) is a few bytes.
    box = AcknowledgementBox()
    var options = jsOptions()
    try check(jsOptions_Init(&options), "jsOptions_Init")
    options.Wait = acknowledgementTimeoutMilliseconds
    options.PublishAsync.MaxPending = Int64(maximumPending)
    // A full window waits at most this long inside js_PublishMsgAsync: the output's thread must
    // get back to its queue and its stop deadline, whatever the acknowledgement timeout is.
    options.PublishAsync.StallWait = min(acknowledgementTimeoutMilliseconds, Self.longestStallMilliseconds)
    options.PublishAsync.AckHandler = acknowledgementHandler
    options.PublishAsync.AckHandlerClosure = Unmanaged.passRetained(box).toOpaque()
    var context: OpaquePointer?
    try check(natsConnection_JetStream(&context, connection.handle, &options), "JetStream context")
    self.context = context!
  }

  deinit { jsCtx_Destroy(context) }

  /// Messages published asynchronously whose outcome has not been taken yet.
  public var inFlight: Int { box.inFlight }

  /// Sends one message without waiting; its outcome comes later from `takeResults()`. Throws at
  /// once for what no resend can fix (over `max_payload`) and when the client cannot send at all.
  public func publishAsync(subject: String, messageID: String, payload: [UInt8], token: UInt64) throws(NATSError) {
    let message = try makeMessage(subject: subject, messageID: messageID, payload: payload)
    var options = jsPubOptions()
    jsPubOptions_Init(&options)
    options.MaxWait = acknowledgementTimeoutMilliseconds
    var pointer: OpaquePointer? = message
    box.register(message, token: token, subject: subject)
    let status = js_PublishMsgAsync(context, &pointer, &options)
    guard status == NATS_OK else {
      box.forget(message)
      natsMsg_Destroy(pointer)
      throw Self.error(status, subject: subject, size: payload.count, maximum: connection.maximumPayload)
    }
  }

  /// The outcomes of asynchronous publishes that arrived since the last call, in arrival order.
  public func takeResults() -> [Outcome] { box.take() }

  /// Forgets every publish still waiting: their acknowledgements, should they come, are ignored.
  public func abandonInFlight() { box.abandon() }

  /// Publishes one message and waits for its acknowledgement.
  public func publish(subject: String, messageID: String, payload: [UInt8]) throws(NATSError) -> JetStreamAck {
    let message = try makeMessage(subject: subject, messageID: messageID, payload: payload)
    defer { natsMsg_Destroy(message) }
    var options = jsPubOptions()
    jsPubOptions_Init(&options)
    options.MaxWait = acknowledgementTimeoutMilliseconds
    var ack: UnsafeMutablePointer<jsPubAck>?
    var code = jsErrCode(rawValue: 0)
    let status = js_PublishMsg(&ack, context, message, &options, &code)
    guard status == NATS_OK, let ack else {
      // libnats reports no responders with JetStream's "not enabled" code too: no stream took the subject.
      if code.rawValue != 0, status != NATS_NO_RESPONDERS {
        throw NATSError.jetStream(code: Int(code.rawValue), String(cString: natsStatus_GetText(status)))
      }
      throw Self.error(status, subject: subject, size: payload.count, maximum: connection.maximumPayload)
    }
    defer { jsPubAck_Destroy(ack) }
    return JetStreamAck(
      stream: ack.pointee.Stream.map { String(cString: $0) } ?? "", sequence: ack.pointee.Sequence,
      duplicate: ack.pointee.Duplicate)
  }

  private func makeMessage(subject: String, messageID: String, payload: [UInt8]) throws(NATSError) -> OpaquePointer {
    // Headers count against max_payload too; the header block is small, and libnats checks exactly.
    let maximum = connection.maximumPayload
    if maximum > 0, payload.count + messageID.utf8.count + 32 > maximum {
      throw .payloadTooLarge(size: payload.count, maximum: maximum)
    }
    var message: OpaquePointer?
    let status = payload.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) {
        natsMsg_Create(&message, subject, nil, $0.baseAddress, Int32($0.count))
      }
    }
    try check(status, "message for \(subject)")
    let header = natsMsgHeader_Set(message, "Nats-Msg-Id", messageID)
    guard header == NATS_OK else {
      natsMsg_Destroy(message)
      throw NATSError.from(header, "Nats-Msg-Id")
    }
    return message!
  }

  static func error(_ status: natsStatus, subject: String, size: Int, maximum: Int) -> NATSError {
    if status == NATS_MAX_PAYLOAD { return .payloadTooLarge(size: size, maximum: maximum) }
    return NATSError.from(status, "publishing to \(subject)", subject: subject)
  }
}

/// Shared between the publishing thread and libnats' acknowledgement thread, under a lock.
final class AcknowledgementBox: @unchecked Sendable {
  private let lock = NSLock()
  private var pending: [UInt: (token: UInt64, subject: String)] = [:]
  private var outcomes: [JetStreamPublisher.Outcome] = []

  var inFlight: Int { lock.withLock { pending.count } }

  func register(_ message: OpaquePointer, token: UInt64, subject: String) {
    lock.withLock { pending[UInt(bitPattern: message)] = (token, subject) }
  }

  func forget(_ message: OpaquePointer) { _ = lock.withLock { pending.removeValue(forKey: UInt(bitPattern: message)) } }

  /// Forgets what is in flight and the outcomes not taken yet: a stale failure must not fail the
  /// next connection's records.
  func abandon() {
    lock.withLock {
      pending.removeAll()
      outcomes.removeAll()
    }
  }

  func take() -> [JetStreamPublisher.Outcome] {
    lock.withLock {
      defer { outcomes.removeAll(keepingCapacity: true) }
      return outcomes
    }
  }

  /// Called by libnats for each asynchronous publish; a message no longer registered was abandoned.
  func complete(_ message: OpaquePointer, _ result: (String) -> Result<JetStreamAck, NATSError>) {
    lock.withLock {
      guard let entry = pending.removeValue(forKey: UInt(bitPattern: message)) else { return }
      outcomes.append(.init(token: entry.token, result: result(entry.subject)))
    }
  }
}

private let acknowledgementHandler: jsPubAckHandler = { _, message, ack, failure, closure in
  guard let message, let closure else { return }
  let box = Unmanaged<AcknowledgementBox>.fromOpaque(closure).takeUnretainedValue()
  box.complete(message) { subject in
    if let ack {
      return .success(
        JetStreamAck(
          stream: ack.pointee.Stream.map { String(cString: $0) } ?? "", sequence: ack.pointee.Sequence,
          duplicate: ack.pointee.Duplicate))
    }
    let status = failure?.pointee.Err ?? NATS_ERR
    let code = Int(failure?.pointee.ErrCode.rawValue ?? 0)
    let text = failure?.pointee.ErrText.map { String(cString: $0) } ?? String(cString: natsStatus_GetText(status))
    // Over the stream's max_msg_size (below the server's max_payload, so the client let it go):
    // refused asynchronously, and as final as the synchronous refusal.
    if code == Int(JSStreamMessageExceedsMaximumErr.rawValue) || status == NATS_MAX_PAYLOAD {
      return .failure(.payloadTooLarge(size: Int(natsMsg_GetDataLength(message)), maximum: 0))
    }
    switch status {
    case NATS_NO_RESPONDERS: return .failure(.noStream(subject: subject))
    case NATS_TIMEOUT: return .failure(.timeout("no acknowledgement for a message to \(subject)"))
    case NATS_CONNECTION_CLOSED, NATS_CONNECTION_DISCONNECTED: return .failure(.disconnected(text))
    default: return .failure(code != 0 ? .jetStream(code: code, text) : .other(text))
    }
  }
  natsMsg_Destroy(message)
}

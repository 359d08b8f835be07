import CFlowsentryNATS
import Foundation

/// One message fetched from a durable pull consumer; acknowledged explicitly, or redelivered after
/// the consumer's ack wait (and to the next reader of the same durable consumer after a crash).
public final class JetStreamDelivery: @unchecked Sendable {
  private let message: OpaquePointer
  public let subject: String
  public let messageID: String?
  public let data: [UInt8]
  /// The message's sequence in the stream, and how many times it was delivered (1 the first time).
  public let streamSequence: UInt64
  public let deliveries: UInt64

  init(_ message: OpaquePointer) {
    self.message = message
    subject = String(cString: natsMsg_GetSubject(message))
    var id: UnsafePointer<CChar>?
    messageID = natsMsgHeader_Get(message, "Nats-Msg-Id", &id) == NATS_OK ? id.map { String(cString: $0) } : nil
    let length = Int(natsMsg_GetDataLength(message))
    data = natsMsg_GetData(message).map { [UInt8](UnsafeRawBufferPointer(start: $0, count: length)) } ?? []
    var metadata: UnsafeMutablePointer<jsMsgMetaData>?
    if natsMsg_GetMetaData(&metadata, message) == NATS_OK, let metadata {
      streamSequence = metadata.pointee.Sequence.Stream
      deliveries = metadata.pointee.NumDelivered
      jsMsgMetaData_Destroy(metadata)
    } else {
      streamSequence = 0
      deliveries = 0
    }
  }

  deinit { natsMsg_Destroy(message) }

  /// Tells the server this message is done with; it is not delivered again.
  public func acknowledge() throws(NATSError) {
    try check(natsMsg_Ack(message, nil), "acknowledging \(subject) #\(streamSequence)")
  }

  /// Tells the server the message is still being worked on: its ack wait starts again, so a
  /// message held longer than the ack wait (an aggregate's window) is not delivered twice.
  public func extend() throws(NATSError) {
    try check(natsMsg_InProgress(message, nil), "in-progress for \(subject) #\(streamSequence)")
  }
}

/// A durable pull consumer on a stream (created when missing): fetch in batches, acknowledge each
/// message when it is done with. Blocking: call it from a thread of its own.
public final class JetStreamPullConsumer: @unchecked Sendable {
  private let subscription: OpaquePointer
  public let publisher: JetStreamPublisher

  /// - Parameters:
  ///   - filterSubject: the subjects this consumer takes (nats-server 2.9: one filter per consumer).
  ///   - acknowledgementWaitMilliseconds: how long a fetched message may stay unacknowledged before
  ///     it is delivered again.
  public init(
    publisher: JetStreamPublisher, stream: String, durable: String, filterSubject: String,
    acknowledgementWaitMilliseconds: Int64 = 30_000, maximumAcknowledgementsPending: Int64 = 10_000
  ) throws(NATSError) {
    self.publisher = publisher
    // The consumer is made (or found as it is) first, then bound by name: libnats deletes only
    // consumers it created itself, so a reader that stops or dies leaves the durable consumer and
    // its unacknowledged messages to the next reader.
    var configuration = jsConsumerConfig()
    try check(jsConsumerConfig_Init(&configuration), "jsConsumerConfig_Init")
    var code = jsErrCode(rawValue: 0)
    var info: UnsafeMutablePointer<jsConsumerInfo>?
    let created = durable.withCString { durableName in
      filterSubject.withCString { filter in
        configuration.Durable = durableName
        configuration.FilterSubject = filter
        configuration.AckPolicy = js_AckExplicit
        configuration.AckWait = acknowledgementWaitMilliseconds * 1_000_000
        configuration.MaxAckPending = maximumAcknowledgementsPending
        return js_AddConsumer(&info, publisher.context, stream, &configuration, nil, &code)
      }
    }
    if let info { jsConsumerInfo_Destroy(info) }
    guard created == NATS_OK else {
      if code == JSStreamNotFoundErr {
        throw NATSError.jetStream(code: Int(code.rawValue), "no stream named \(stream) (for the consumer \(durable))")
      }
      if code.rawValue != 0 { throw NATSError.jetStream(code: Int(code.rawValue), "consumer \(durable) on \(stream)") }
      throw NATSError.from(created, "consumer \(durable) on \(stream)")
    }
    var options = jsSubOptions()
    try check(jsSubOptions_Init(&options), "jsSubOptions_Init")
    var subscription: OpaquePointer?
    let status = stream.withCString { streamName in
      durable.withCString { durableName in
        options.Stream = streamName
        options.Consumer = durableName
        return js_PullSubscribe(&subscription, publisher.context, filterSubject, durable, nil, &options, &code)
      }
    }
    guard status == NATS_OK, let subscription else {
      if code.rawValue != 0 { throw NATSError.jetStream(code: Int(code.rawValue), "consumer \(durable) on \(stream)") }
      throw NATSError.from(status, "consumer \(durable) on \(stream)")
    }
    self.subscription = subscription
  }

  deinit { natsSubscription_Destroy(subscription) }

  /// Up to `batch` messages, waiting at most `timeoutMilliseconds` for the first; empty when none came.
  public func fetch(batch: Int, timeoutMilliseconds: Int64) throws(NATSError) -> [JetStreamDelivery] {
    var list = natsMsgList()
    var code = jsErrCode(rawValue: 0)
    let status = natsSubscription_Fetch(&list, subscription, Int32(batch), timeoutMilliseconds, &code)
    if status == NATS_TIMEOUT { return [] }
    guard status == NATS_OK else {
      if code.rawValue != 0 { throw NATSError.jetStream(code: Int(code.rawValue), "fetch") }
      throw NATSError.from(status, "fetch")
    }
    var deliveries: [JetStreamDelivery] = []
    for index in 0..<Int(list.Count) {
      // Each message now belongs to its delivery; the list's own array is freed below.
      if let message = list.Msgs[index] {
        deliveries.append(JetStreamDelivery(message))
        list.Msgs[index] = nil
      }
    }
    natsMsgList_Destroy(&list)
    return deliveries
  }
}

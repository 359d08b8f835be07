import CFlowsentryNATS
import Foundation

/// A stream as `js_AddStream` takes it: the fields a fleet sets (docs/FLEET.md).
public struct JetStreamStreamSettings: Sendable, Equatable {
  public var name: String
  public var subjects: [String]
  public var replicas = 1
  /// The duplicate window: a message whose `Nats-Msg-Id` the stream stored this recently is dropped.
  public var duplicateWindowNanoseconds: Int64 = 120_000_000_000
  public var maximumAgeNanoseconds: Int64 = 0
  public var maximumBytes: Int64 = -1
  public var memoryStorage = false
  /// The largest message the stream stores (`max_msg_size`); -1: the server's `max_payload`.
  public var maximumMessageBytes: Int32 = -1

  public init(name: String, subjects: [String]) {
    self.name = name
    self.subjects = subjects
  }
}

/// One message read back from a stream by its sequence.
public struct JetStreamStoredMessage: Sendable, Equatable {
  public var sequence: UInt64
  public var subject: String
  public var messageID: String?
  public var data: [UInt8]
}

extension JetStreamPublisher {
  /// Creates the stream (or finds it as it is, when one of that name exists with the same settings).
  public func addStream(_ settings: JetStreamStreamSettings) throws(NATSError) {
    var configuration = jsStreamConfig()
    try check(jsStreamConfig_Init(&configuration), "jsStreamConfig_Init")
    var subjects = settings.subjects.map { UnsafePointer(strdup($0)) }
    let name = strdup(settings.name)
    defer {
      subjects.forEach { free(UnsafeMutablePointer(mutating: $0)) }
      free(name)
    }
    var code = jsErrCode(rawValue: 0)
    var info: UnsafeMutablePointer<jsStreamInfo>?
    let status = subjects.withUnsafeMutableBufferPointer { buffer in
      configuration.Name = UnsafePointer(name)
      configuration.Subjects = buffer.baseAddress
      configuration.SubjectsLen = Int32(buffer.count)
      configuration.Replicas = Int64(settings.replicas)
      configuration.Duplicates = settings.duplicateWindowNanoseconds
      configuration.MaxAge = settings.maximumAgeNanoseconds
      configuration.MaxBytes = settings.maximumBytes
      configuration.MaxMsgSize = settings.maximumMessageBytes
      configuration.Storage = settings.memoryStorage ? js_MemoryStorage : js_FileStorage
      return js_AddStream(&info, context, &configuration, nil, &code)
    }
    if let info { jsStreamInfo_Destroy(info) }
    guard status == NATS_OK else {
      if code.rawValue != 0 {
        throw NATSError.jetStream(code: Int(code.rawValue), "creating the stream \(settings.name)")
      }
      throw NATSError.from(status, "creating the stream \(settings.name)")
    }
  }

  /// A durable consumer's state: messages of its subjects not yet delivered, and messages delivered
  /// and not yet acknowledged (a restarted reader gets these again once their ack wait runs out).
  public func consumerState(stream: String, durable: String) throws(NATSError) -> (
    undelivered: UInt64, acknowledgementsPending: Int64
  ) {
    var info: UnsafeMutablePointer<jsConsumerInfo>?
    var code = jsErrCode(rawValue: 0)
    let status = js_GetConsumerInfo(&info, context, stream, durable, nil, &code)
    guard status == NATS_OK, let info else {
      if code.rawValue != 0 { throw NATSError.jetStream(code: Int(code.rawValue), "consumer \(durable) on \(stream)") }
      throw NATSError.from(status, "consumer \(durable) on \(stream)")
    }
    defer { jsConsumerInfo_Destroy(info) }
    return (info.pointee.NumPending, info.pointee.NumAckPending)
  }

  /// The number of messages a stream holds and its last sequence.
  public func streamState(_ name: String) throws(NATSError) -> (messages: UInt64, lastSequence: UInt64) {
    var info: UnsafeMutablePointer<jsStreamInfo>?
    var code = jsErrCode(rawValue: 0)
    let status = js_GetStreamInfo(&info, context, name, nil, &code)
    guard status == NATS_OK, let info else {
      if code.rawValue != 0 { throw NATSError.jetStream(code: Int(code.rawValue), "stream \(name)") }
      throw NATSError.from(status, "stream \(name)")
    }
    defer { jsStreamInfo_Destroy(info) }
    return (info.pointee.State.Msgs, info.pointee.State.LastSeq)
  }

  /// The message stored at a sequence, or nil when there is none (deleted, or past the end).
  public func message(stream: String, sequence: UInt64) throws(NATSError) -> JetStreamStoredMessage? {
    var message: OpaquePointer?
    var code = jsErrCode(rawValue: 0)
    let status = js_GetMsg(&message, context, stream, sequence, nil, &code)
    if status == NATS_NOT_FOUND || code == JSNoMessageFoundErr { return nil }
    guard status == NATS_OK, let message else {
      if code.rawValue != 0 { throw NATSError.jetStream(code: Int(code.rawValue), "message \(sequence) of \(stream)") }
      throw NATSError.from(status, "message \(sequence) of \(stream)")
    }
    defer { natsMsg_Destroy(message) }
    var id: UnsafePointer<CChar>?
    let found = natsMsgHeader_Get(message, "Nats-Msg-Id", &id) == NATS_OK
    let length = Int(natsMsg_GetDataLength(message))
    let data = natsMsg_GetData(message).map { pointer in
      [UInt8](UnsafeRawBufferPointer(start: pointer, count: length))
    }
    return JetStreamStoredMessage(
      sequence: sequence, subject: String(cString: natsMsg_GetSubject(message)),
      messageID: found ? id.map { String(cString: $0) } : nil, data: data ?? [])
  }

  /// Every message of a stream, in sequence order (for tests and checks; one request each).
  public func messages(stream: String) throws(NATSError) -> [JetStreamStoredMessage] {
    let state = try streamState(stream)
    var all: [JetStreamStoredMessage] = []
    all.reserveCapacity(Int(state.messages))
    var sequence: UInt64 = 1
    while sequence <= state.lastSequence {
      if let message = try message(stream: stream, sequence: sequence) { all.append(message) }
      sequence += 1
    }
    return all
  }
}

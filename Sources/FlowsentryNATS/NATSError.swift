import CFlowsentryNATS

/// What went wrong talking to NATS, by what an operator does about it.
public enum NATSError: Error, Equatable, Sendable, CustomStringConvertible {
  /// No JetStream stream listens on the subject (the server answered "no responders"): nothing stored.
  case noStream(subject: String)
  /// The servers refused the credentials, or the account may not publish there.
  case authentication(String)
  /// The message is larger than the server's `max_payload` (or, `maximum` 0, than the stream's
  /// `max_msg_size`, which only the acknowledgement tells): sending it again cannot help.
  case payloadTooLarge(size: Int, maximum: Int)
  /// No acknowledgement within the time allowed: the message may or may not be stored.
  case timeout(String)
  /// Not connected to any server (all down, or reconnecting).
  case disconnected(String)
  /// JetStream answered with an error code (stream full, wrong expected sequence, …).
  case jetStream(code: Int, String)
  /// A file (credentials, TLS) could not be used, or an option was refused by the client library.
  case configuration(String)
  case other(String)

  /// Every `kind`, for counter tables that list each one at zero.
  public static let kinds = [
    "no_stream", "authentication", "payload_too_large", "timeout", "disconnected", "jetstream", "configuration",
    "other",
  ]

  /// A short label for counters: `no_stream`, `authentication`, `payload_too_large`, `timeout`,
  /// `disconnected`, `jetstream`, `configuration`, `other`.
  public var kind: String {
    switch self {
    case .noStream: "no_stream"
    case .authentication: "authentication"
    case .payloadTooLarge: "payload_too_large"
    case .timeout: "timeout"
    case .disconnected: "disconnected"
    case .jetStream: "jetstream"
    case .configuration: "configuration"
    case .other: "other"
    }
  }

  public var description: String {
    switch self {
    case .noStream(let subject): "no JetStream stream listens on the subject \(subject) (no responders)"
    case .authentication(let text): "authentication refused: \(text)"
    case .payloadTooLarge(let size, let maximum):
      maximum == 0
        ? "a message of \(size) bytes is over the stream's max_msg_size"
        : "a message of \(size) bytes is over the server's max_payload (\(maximum))"
    case .timeout(let text): "timed out: \(text)"
    case .disconnected(let text): "disconnected: \(text)"
    case .jetStream(let code, let text): "JetStream error \(code): \(text)"
    case .configuration(let text): text
    case .other(let text): text
    }
  }

  /// The error for a failed libnats call, with the library's own last error text when it has one.
  static func from(_ status: natsStatus, _ context: String, subject: String = "", detail given: String? = nil)
    -> NATSError
  {
    var lastStatus = NATS_OK
    let detail = given ?? nats_GetLastError(&lastStatus).map { String(cString: $0) } ?? ""
    let text = "\(context): \(String(cString: natsStatus_GetText(status)))" + (detail.isEmpty ? "" : " (\(detail))")
    switch status {
    case NATS_NO_RESPONDERS: return .noStream(subject: subject)
    case NATS_SECURE_CONNECTION_WANTED:
      return .configuration(
        "\(text): TLS is asked for (ca, cert, key, server_name or tls_verify) and the server has none")
    case NATS_SECURE_CONNECTION_REQUIRED: return .configuration("\(text): the server requires TLS")
    case NATS_CONNECTION_AUTH_FAILED, NATS_NOT_PERMITTED: return .authentication(text)
    case NATS_TIMEOUT: return .timeout(text)
    case NATS_CONNECTION_CLOSED, NATS_CONNECTION_DISCONNECTED, NATS_NO_SERVER, NATS_STALE_CONNECTION:
      // libnats reports a refused CONNECT as a closed connection with the server's -ERR as detail.
      if detail.localizedCaseInsensitiveContains("authorization")
        || detail.localizedCaseInsensitiveContains("authentication")
      {
        return .authentication(text)
      }
      return .disconnected(text)
    case NATS_ERR, NATS_IO_ERROR, NATS_SSL_ERROR:
      if detail.localizedCaseInsensitiveContains("authorization") { return .authentication(text) }
      return .other(text)
    default: return .other(text)
    }
  }
}

/// Calls a libnats function that returns a status, turning a failure into a typed error.
@inline(__always)
func check(_ status: natsStatus, _ context: @autoclosure () -> String) throws(NATSError) {
  guard status == NATS_OK else { throw NATSError.from(status, context()) }
}

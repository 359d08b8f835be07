import CFlowsentryNATS
import Foundation

/// How to reach a NATS cluster: its servers, credentials (from files only) and TLS.
public struct NATSConnectionOptions: Sendable, Equatable {
  /// Where the credentials come from; a secret is never given inline.
  public enum Credentials: Sendable, Equatable {
    case none
    /// A token, the file's first line.
    case tokenFile(String)
    /// `user:password`, the file's first line.
    case userPasswordFile(String)
    /// An NKey user: its public key (not secret) and the file holding its seed.
    case nkeySeedFile(publicKey: String, path: String)
    /// A `.creds` file: the user's JWT and NKey seed, as `nsc` writes it.
    case credentialsFile(String)
  }

  /// `nats://host:port` (or `tls://host:port`) URLs, tried in random order, failed over on disconnect.
  public var servers: [String]
  /// The client name the servers show in their connection lists.
  public var name = "flowsentry"
  public var credentials = Credentials.none
  /// TLS: required when any of these is set (see `usesTLS`), or a URL says `tls://`.
  public var caFile: String?
  public var certificateFile: String?
  public var keyFile: String?
  /// The name the server certificate must carry (otherwise the host connected to).
  public var serverName: String?
  public var verifyCertificate = true
  public var requireTLS = false
  public var connectTimeoutMilliseconds: Int64 = 5_000
  /// Reconnect attempts per server before the connection closes; -1 for ever.
  public var maximumReconnects: Int32 = -1
  public var reconnectWaitMilliseconds: Int64 = 500
  /// Bytes libnats buffers while reconnecting; publishes beyond it fail (and stay in the spool).
  public var reconnectBufferBytes: Int32 = 8 << 20

  public init(servers: [String]) { self.servers = servers }

  /// Whether the connection must be TLS: asked for, or any TLS setting given. A server name or
  /// verification turned off without a CA (the system's trust store) must never mean plaintext,
  /// where a token or password would cross the network in clear.
  public var usesTLS: Bool {
    requireTLS || caFile != nil || certificateFile != nil || keyFile != nil || serverName != nil || !verifyCertificate
      || servers.contains { $0.hasPrefix("tls://") }
  }
}

/// One connection to a NATS cluster (libnats reconnects and fails over by itself). Every call
/// may block on the network: call it from a thread of its own, never from Swift's cooperative pool.
public final class NATSConnection: @unchecked Sendable {
  let handle: OpaquePointer
  public let options: NATSConnectionOptions

  public init(_ options: NATSConnectionOptions) throws(NATSError) {
    self.options = options
    var natsOptions: OpaquePointer?
    try check(natsOptions_Create(&natsOptions), "natsOptions_Create")
    defer { natsOptions_Destroy(natsOptions) }
    try Self.apply(options, to: natsOptions!)
    var connection: OpaquePointer?
    let status = natsConnection_Connect(&connection, natsOptions)
    guard status == NATS_OK, let connection else {
      throw NATSError.from(status, "connecting to \(options.servers.joined(separator: ","))")
    }
    handle = connection
  }

  deinit {
    natsConnection_Close(handle)
    natsConnection_Destroy(handle)
  }

  /// The largest message the connected server takes (`max_payload`), headers and body together.
  public var maximumPayload: Int { Int(natsConnection_GetMaxPayload(handle)) }

  public var isConnected: Bool { natsConnection_Status(handle) == NATS_CONN_STATUS_CONNECTED }

  /// libnats gave up on this connection for good (the same authentication error twice in a row
  /// while reconnecting, or no server left to try): it never reconnects again, only a new one can.
  public var isClosed: Bool { natsConnection_Status(handle) == NATS_CONN_STATUS_CLOSED }

  /// Why the connection last failed (the server's refusal of a reconnect, say), nil when it did not.
  public var lastError: NATSError? {
    var text: UnsafePointer<CChar>?
    let status = natsConnection_GetLastError(handle, &text)
    guard status != NATS_OK else { return nil }
    return NATSError.from(status, "connection", detail: text.map { String(cString: $0) } ?? "")
  }

  /// The URL of the server currently connected to, for logs.
  public var connectedURL: String {
    var buffer = [CChar](repeating: 0, count: 512)
    guard natsConnection_GetConnectedUrl(handle, &buffer, buffer.count) == NATS_OK else { return "" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  private static func apply(_ options: NATSConnectionOptions, to natsOptions: OpaquePointer) throws(NATSError) {
    guard !options.servers.isEmpty else { throw .configuration("no NATS server given") }
    var servers = options.servers.map { strdup($0) }
    defer { servers.forEach { free($0) } }
    try servers.withUnsafeMutableBufferPointer { (buffer) throws(NATSError) in
      let pointers = UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: UnsafePointer<CChar>?.self)
      try check(natsOptions_SetServers(natsOptions, pointers, Int32(buffer.count)), "servers")
    }
    try check(natsOptions_SetName(natsOptions, options.name), "name")
    try check(natsOptions_SetTimeout(natsOptions, options.connectTimeoutMilliseconds), "timeout")
    try check(natsOptions_SetMaxReconnect(natsOptions, options.maximumReconnects), "max reconnect")
    try check(natsOptions_SetReconnectWait(natsOptions, options.reconnectWaitMilliseconds), "reconnect wait")
    try check(natsOptions_SetReconnectBufSize(natsOptions, options.reconnectBufferBytes), "reconnect buffer")
    // A request (JetStream's publish is one) fails at once on a disconnect instead of waiting out its timeout.
    try check(natsOptions_SetFailRequestsOnDisconnect(natsOptions, true), "fail requests on disconnect")

    switch options.credentials {
    case .none: break
    case .tokenFile(let path):
      try check(natsOptions_SetToken(natsOptions, try secret(path)), "token")
    case .userPasswordFile(let path):
      let line = try secret(path)
      guard let colon = line.firstIndex(of: ":") else {
        throw .configuration("the user and password file \(path) must hold user:password")
      }
      try check(
        natsOptions_SetUserInfo(natsOptions, String(line[..<colon]), String(line[line.index(after: colon)...])),
        "user and password")
    case .nkeySeedFile(let publicKey, let path):
      guard FileManager.default.isReadableFile(atPath: path) else {
        throw .configuration("cannot read the NKey seed file \(path)")
      }
      try check(natsOptions_SetNKeyFromSeed(natsOptions, publicKey, path), "NKey seed file \(path)")
    case .credentialsFile(let path):
      guard FileManager.default.isReadableFile(atPath: path) else {
        throw .configuration("cannot read the credentials file \(path)")
      }
      try check(natsOptions_SetUserCredentialsFromFiles(natsOptions, path, nil), "credentials file \(path)")
    }

    if options.usesTLS {
      try check(natsOptions_SetSecure(natsOptions, true), "TLS")
      if let ca = options.caFile {
        try check(natsOptions_LoadCATrustedCertificates(natsOptions, ca), "CA file \(ca)")
      }
      if let certificate = options.certificateFile {
        guard let key = options.keyFile else { throw .configuration("a client certificate needs its key") }
        try check(natsOptions_LoadCertificatesChain(natsOptions, certificate, key), "client certificate \(certificate)")
      }
      if let name = options.serverName {
        try check(natsOptions_SetExpectedHostname(natsOptions, name), "server name")
      }
      if !options.verifyCertificate {
        try check(natsOptions_SkipServerVerification(natsOptions, true), "skip verification")
      }
    }
  }

  /// A secret file's first line; errors name the file, never its content.
  private static func secret(_ path: String) throws(NATSError) -> String {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
      throw .configuration("cannot read the secret file \(path)")
    }
    let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
    guard !line.isEmpty else { throw .configuration("the secret file \(path) is empty") }
    return line
  }
}

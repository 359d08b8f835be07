import FlowsentryCore
import FlowsentryNATS

/// What only a `nats://` output has: its servers, subject template, credentials and acknowledgement bounds.
public struct NATSOutputSettings: Sendable, Equatable {
  /// `host:port` of each server, in the order given (libnats picks among them at random).
  public var servers: [HostAndPortText] = []
  public var subject: NATSSubjectTemplate?
  public var credentials = NATSConnectionOptions.Credentials.none
  /// An NKey user's public key (with `nkey_seed_file`).
  public var nkeyPublicKey: String?
  /// How long a published message waits for its JetStream acknowledgement before it is sent again.
  public var acknowledgementTimeoutMilliseconds = 5_000
  public init() {}

  public struct HostAndPortText: Sendable, Equatable {
    public var host: String
    public var port: UInt16
  }

  /// `nats://h:p,h:p` as the servers are given to libnats (TLS is asked for separately).
  public var urls: [String] {
    servers.map { "nats://" + HostAndPort.text(host: $0.host, port: Int($0.port)) }
  }

  public var address: String {
    "nats://" + servers.map { HostAndPort.text(host: $0.host, port: Int($0.port)) }.joined(separator: ",")
  }
}

/// `nats://HOST:PORT[,HOST:PORT…]?subject=TEMPLATE&…`: the keys only NATS takes, and its checks.
public enum NATSOutputSpecification {
  public static let defaultPort: UInt16 = 4222
  /// Without `subject=`: the sensor, then `alert` or the event's name.
  public static let defaultSubject = "flowsentry.{host}.{event}"

  public static let keys: [(key: String, meaning: String)] = [
    ("subject", "NATS: the subject template, with {host} {rule} {severity} {event} {remote} {name}"),
    ("nkey", "NATS: the NKey user's public key (with nkey_seed_file)"),
    ("nkey_seed_file", "NATS: the file holding the NKey user's seed"),
    ("creds_file", "NATS: a .creds file (user JWT and NKey seed)"),
    ("ack_timeout_ms", "NATS: how long a message waits for its JetStream acknowledgement"),
    ("max_in_flight", "NATS: messages published and not yet acknowledged, at most"),
  ]

  /// The servers of `nats://HOST:PORT,HOST:PORT?…`; the query goes through `OutputSpecification.apply`.
  static func servers(_ authority: Substring, fail: (String) -> OutputSpecificationError)
    throws(OutputSpecificationError)
    -> [NATSOutputSettings.HostAndPortText]
  {
    var servers: [NATSOutputSettings.HostAndPortText] = []
    for entry in authority.split(separator: ",", omittingEmptySubsequences: false) {
      do {
        let (host, port) = try HostAndPort.parse(authority: entry, defaultPort: Int(defaultPort))
        servers.append(.init(host: host, port: UInt16(port)))
      } catch {
        throw fail(error.reason)
      }
    }
    guard servers.count <= 64 else { throw fail("at most 64 servers") }
    return servers
  }

  /// Sets a NATS-only key; false when the key is not one.
  static func apply(
    _ key: String, _ value: String, to configuration: inout OutputConfiguration,
    fail: (String) -> OutputSpecificationError
  ) throws(OutputSpecificationError) -> Bool {
    switch key {
    case "subject": configuration.nats.subject = try NATSSubjectTemplate(value)
    case "nkey":
      guard value.hasPrefix("U"), value.count == 56, value.allSatisfy({ $0.isASCII && ($0.isUppercase || $0.isNumber) })
      else { throw fail("nkey takes a user's public NKey (56 characters starting with U)") }
      configuration.nats.nkeyPublicKey = value
    case "nkey_seed_file": configuration.nats.credentials = .nkeySeedFile(publicKey: "", path: value)
    case "creds_file": configuration.nats.credentials = .credentialsFile(value)
    case "ack_timeout_ms":
      guard let number = Int(value), (100...600_000).contains(number) else {
        throw fail("ack_timeout_ms takes 100 to 600000, not '\(value)'")
      }
      configuration.nats.acknowledgementTimeoutMilliseconds = number
    case "max_in_flight":
      guard let number = Int(value), (1...65_536).contains(number) else {
        throw fail("max_in_flight takes 1 to 65536, not '\(value)'")
      }
      configuration.maximumInFlight = number
    default: return false
    }
    return true
  }

  /// Once every key is applied: the default subject when none was given; `token_file` and `basic_auth_file` (the HTTP
  /// keys' names) are the token and `user:password` files; secrets from the environment are refused.
  static func finish(_ configuration: inout OutputConfiguration, fail: (String) -> OutputSpecificationError)
    throws(OutputSpecificationError)
  {
    if configuration.nats.subject == nil {
      configuration.nats.subject = try NATSSubjectTemplate(NATSOutputSpecification.defaultSubject)
    }
    guard !configuration.nats.servers.isEmpty else { throw fail("nats:// needs at least one HOST:PORT") }
    var http = configuration.http
    var given: [NATSConnectionOptions.Credentials] = []
    if configuration.nats.credentials != .none { given.append(configuration.nats.credentials) }
    switch http.token {
    case .file(let path)?: given.append(.tokenFile(path))
    case .environment?: throw fail("NATS credentials come from files only (token_file)")
    case nil: break
    }
    switch http.basicAuthentication {
    case .file(let path)?: given.append(.userPasswordFile(path))
    case .environment?: throw fail("NATS credentials come from files only (basic_auth_file, user:password)")
    case nil: break
    }
    guard given.count <= 1 else {
      throw fail("one kind of NATS credentials at a time: token_file, basic_auth_file, nkey_seed_file or creds_file")
    }
    http.token = nil
    http.basicAuthentication = nil
    configuration.http = http
    configuration.nats.credentials = given.first ?? .none
    if case .nkeySeedFile(_, let path) = configuration.nats.credentials {
      guard let key = configuration.nats.nkeyPublicKey else { throw fail("nkey_seed_file needs nkey=PUBLIC_KEY") }
      configuration.nats.credentials = .nkeySeedFile(publicKey: key, path: path)
    } else if configuration.nats.nkeyPublicKey != nil {
      throw fail("nkey needs nkey_seed_file")
    }
  }
}

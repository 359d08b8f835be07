import FlowsentryCore
import FlowsentryNATS
import Foundation

/// `aggregate --input 'nats://HOST:PORT[,HOST:PORT…]?stream=NAME&consumer=NAME&…'`: where the
/// fleet's events are read, how they are partitioned, and how long a message may stay unacknowledged.
public struct AggregateInput: Sendable, Equatable {
  public static let defaultPort = 4222
  /// The partitions' subjects as the account mapping writes them (docs/FLEET.md).
  public static let defaultSubject = "flowsentry.part.{partition}.>"

  public var servers: [String] = []
  public var stream = ""
  /// The durable consumers' names: `CONSUMER-p0`, `CONSUMER-p1`, … one per partition.
  public var consumer = ""
  public var partitions = 1
  /// The filter subject of partition `{partition}`.
  public var subject = AggregateInput.defaultSubject
  /// The event field the mapping partitions by; every stateful rule must group by it.
  public var partitionKey = "remote"
  /// How long a delivered message may go without an acknowledgement or an in-progress before
  /// the server delivers it again (to a restarted instance after a crash).
  public var acknowledgementWaitMilliseconds: Int64 = 30_000
  /// Messages delivered and held (not yet acknowledged) per partition, at most.
  public var maximumAcknowledgementsPending: Int64 = 20_000
  /// How far behind the newest event of its partition an event may be and still be evaluated.
  public var latenessMilliseconds: Int64 = 60_000
  /// How far ahead of this instance's clock an event may be dated and still be evaluated; a later
  /// one is acknowledged unevaluated (counted `future`) and never moves the watermark.
  public var futureSkewMilliseconds: Int64 = 300_000
  public var batch = 256
  public var credentials = NATSConnectionOptions.Credentials.none
  public var nkeyPublicKey: String?
  public var caFile: String?
  public var certificateFile: String?
  public var keyFile: String?
  public var serverName: String?
  public var verifyCertificate = true

  public init() {}

  public var connectionOptions: NATSConnectionOptions {
    var options = NATSConnectionOptions(servers: servers)
    options.name = "flowsentry-aggregate"
    options.credentials = credentials
    options.caFile = caFile
    options.certificateFile = certificateFile
    options.keyFile = keyFile
    options.serverName = serverName
    options.verifyCertificate = verifyCertificate
    // Any TLS key asks for TLS (tls_verify=false too): never plaintext with a token in clear.
    options.requireTLS =
      caFile != nil || certificateFile != nil || keyFile != nil || serverName != nil || !verifyCertificate
    return options
  }

  public func filterSubject(partition: Int) -> String {
    subject.replacingOccurrences(of: "{partition}", with: String(partition))
  }

  public func durableName(partition: Int) -> String { "\(consumer)-p\(partition)" }

  public static let keys = [
    "stream", "consumer", "partitions", "subject", "partition_key", "ack_wait_ms", "max_ack_pending", "lateness_ms",
    "future_skew_ms", "batch", "creds_file", "token_file", "basic_auth_file", "nkey", "nkey_seed_file", "ca", "cert",
    "key", "server_name", "tls_verify",
  ]

  public static func parse(_ text: String) throws(AggregateInputError) -> AggregateInput {
    func fail(_ reason: String) -> AggregateInputError { AggregateInputError(specification: text, reason: reason) }
    guard text.hasPrefix("nats://") else {
      throw fail("expected nats://HOST:PORT[,HOST:PORT…]?stream=NAME&consumer=NAME")
    }
    let rest = text.dropFirst("nats://".count)
    let authority = rest.prefix { $0 != "?" }
    guard !authority.contains("@") else {
      throw fail("credentials in the URL are refused: use creds_file, token_file or basic_auth_file")
    }
    var input = AggregateInput()
    for entry in authority.split(separator: ",", omittingEmptySubsequences: false) {
      do {
        let (host, port) = try HostAndPort.parse(authority: entry, defaultPort: defaultPort)
        input.servers.append("nats://\(HostAndPort.text(host: host, port: port))")
      } catch {
        throw fail(error.reason)
      }
    }
    guard (1...64).contains(input.servers.count) else { throw fail("1 to 64 servers") }
    var userPasswordFile: String?
    var tokenFile: String?
    for pair in rest.dropFirst(authority.count).dropFirst().split(separator: "&") where !pair.isEmpty {
      let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      guard parts.count == 2, let value = String(parts[1]).removingPercentEncoding, !value.isEmpty else {
        throw fail("'\(pair)' is not KEY=VALUE")
      }
      func number(_ range: ClosedRange<Int64>) throws(AggregateInputError) -> Int64 {
        guard let number = Int64(value), range.contains(number) else {
          throw fail("\(parts[0]) takes \(range.lowerBound) to \(range.upperBound), not '\(value)'")
        }
        return number
      }
      switch String(parts[0]) {
      case "stream": input.stream = try name(value, "stream", fail)
      case "consumer": input.consumer = try name(value, "consumer", fail)
      case "partitions": input.partitions = Int(try number(1...1024))
      case "subject":
        guard value.contains("{partition}") || input.partitions == 1, !value.contains(" ") else {
          throw fail("subject needs {partition} (one filter subject per partition)")
        }
        input.subject = value
      case "partition_key": input.partitionKey = value
      case "ack_wait_ms": input.acknowledgementWaitMilliseconds = try number(1_000...3_600_000)
      case "max_ack_pending": input.maximumAcknowledgementsPending = try number(16...1_000_000)
      case "lateness_ms": input.latenessMilliseconds = try number(0...86_400_000)
      case "future_skew_ms": input.futureSkewMilliseconds = try number(0...86_400_000)
      case "batch": input.batch = Int(try number(1...4096))
      case "creds_file": input.credentials = .credentialsFile(value)
      case "token_file": tokenFile = value
      case "basic_auth_file": userPasswordFile = value
      case "nkey": input.nkeyPublicKey = value
      case "nkey_seed_file": input.credentials = .nkeySeedFile(publicKey: "", path: value)
      case "ca": input.caFile = value
      case "cert": input.certificateFile = value
      case "key": input.keyFile = value
      case "server_name": input.serverName = value
      case "tls_verify":
        guard let verify = Bool(value) else { throw fail("tls_verify takes true or false") }
        input.verifyCertificate = verify
      default: throw fail("unknown key '\(parts[0])'; known: \(keys.joined(separator: ", "))")
      }
    }
    guard !input.stream.isEmpty, !input.consumer.isEmpty else {
      throw fail("stream=NAME and consumer=NAME are required")
    }
    guard input.batch < input.maximumAcknowledgementsPending else {
      throw fail(
        "batch (\(input.batch)) must be below max_ack_pending (\(input.maximumAcknowledgementsPending)): "
          + "an instance holds max_ack_pending minus batch messages per partition")
    }
    if input.partitions > 1, !input.subject.contains("{partition}") {
      throw fail("subject needs {partition} when there are several partitions")
    }
    let given = [
      input.credentials == .none ? nil : input.credentials, tokenFile.map { .tokenFile($0) },
      userPasswordFile.map { .userPasswordFile($0) },
    ].compactMap { $0 }
    guard given.count <= 1 else {
      throw fail("one kind of credentials at a time: token_file, basic_auth_file, nkey_seed_file or creds_file")
    }
    input.credentials = given.first ?? .none
    if case .nkeySeedFile(_, let path) = input.credentials {
      guard let key = input.nkeyPublicKey else { throw fail("nkey_seed_file needs nkey=PUBLIC_KEY") }
      input.credentials = .nkeySeedFile(publicKey: key, path: path)
    } else if input.nkeyPublicKey != nil {
      throw fail("nkey needs nkey_seed_file")
    }
    guard (input.certificateFile == nil) == (input.keyFile == nil) else { throw fail("cert and key go together") }
    return input
  }

  /// Stream and consumer names: what JetStream accepts in a subject token, and no more.
  private static func name(_ value: String, _ key: String, _ fail: (String) -> AggregateInputError)
    throws(AggregateInputError) -> String
  {
    guard value.utf8.count <= 64,
      value.unicodeScalars.allSatisfy({
        $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_".unicodeScalars.contains($0))
      })
    else { throw fail("\(key) takes 1 to 64 letters, digits, '-' or '_'") }
    return value
  }
}

public struct AggregateInputError: Error, Equatable, CustomStringConvertible {
  public var specification: String
  public var reason: String
  public var description: String { "--input '\(specification)': \(reason)" }
}

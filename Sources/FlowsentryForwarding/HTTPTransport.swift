import AsyncHTTPClient
import CompressNIO
import FlowsentryCore
import FlowsentrySpool
import Foundation
import NIOCore
import NIOHTTP1

/// Batches to an HTTP receiver (Splunk HEC, Elasticsearch `_bulk`, a webhook) through
/// async-http-client, waited on from the output's own thread. A record is delivered once the
/// receiver answered 2xx for its batch (for Elasticsearch, per item: 2xx or 409, already stored).
/// Permanent rejections (400, 401, 403, 413, per-item 400) go to the dead-letter file: a batch is
/// first split so that one poisoned record costs only itself. 429 and 503 honour `Retry-After`.
final class HTTPTransport: Transport {
  private let client: HTTPClient
  private let configuration: OutputConfiguration
  private let url: String
  private let headers: HTTPHeaders
  private let deadLetters: DeadLetterFile
  private var delivered: UInt64?
  /// Records dead-lettered by this transport, for the output's counters.
  private(set) var deadLettered: UInt64 = 0
  /// Answers whose body passed `maximumResponseBytes`: read no further, the batch failed.
  private(set) var oversizedResponses: UInt64 = 0
  /// The most of a response body read: Elasticsearch's `_bulk` answers one result per item, every
  /// other receiver a short status.
  let maximumResponseBytes: Int

  init(client: HTTPClient, configuration: OutputConfiguration, deadLetters: DeadLetterFile) throws(OutputError) {
    self.client = client
    self.configuration = configuration
    self.deadLetters = deadLetters
    maximumResponseBytes =
      configuration.http.profile == .elasticsearch
      ? min(64 << 20, max(1 << 20, configuration.batchRecords * 1_024)) : 64 << 10
    let host = HostAndPort.bracketed(configuration.host)
    url = "\(configuration.kind.rawValue)://\(host):\(configuration.port)\(configuration.http.path)"
    var headers = HTTPHeaders()
    switch configuration.http.profile {
    case .elasticsearch: headers.add(name: "Content-Type", value: "application/x-ndjson")
    case .webhook:
      headers.add(name: "Content-Type", value: configuration.http.ndjson ? "application/x-ndjson" : "application/json")
    case .splunkHEC: headers.add(name: "Content-Type", value: "application/json")
    }
    if let token = configuration.http.token {
      headers.add(name: "Authorization", value: "Splunk \(try token.read())")
    }
    if let key = configuration.http.apiKey { headers.add(name: "Authorization", value: "ApiKey \(try key.read())") }
    if let basic = configuration.http.basicAuthentication {
      headers.add(name: "Authorization", value: "Basic \(Data(try basic.read().utf8).base64EncodedString())")
    }
    for (name, value) in configuration.http.headers.sorted(by: { $0.key < $1.key }) {
      headers.add(name: name, value: value)
    }
    self.headers = headers
  }

  var unacknowledged: Int { 0 }

  func send(_ records: [Spool.Record]) throws(TransportError) {
    var pending = records[...]
    var split = false
    while !pending.isEmpty {
      let batch = split ? pending.prefix(1) : pending
      switch try post(batch) {
      case .delivered:
        delivered = batch.last!.sequence
        pending = pending.dropFirst(batch.count)
      case .rejected(let reason) where batch.count > 1:
        // One poisoned record must not cost its neighbours: find it by sending them one by one.
        _ = reason
        split = true
      case .rejected(let reason):
        deadLetter(batch, reason)
        delivered = batch.last!.sequence
        pending = pending.dropFirst(batch.count)
      }
    }
  }

  func acknowledged() throws(TransportError) -> UInt64? {
    defer { delivered = nil }
    return delivered
  }

  /// What was delivered before a failure: committed even though the next batch failed.
  func salvage() -> UInt64? { try? acknowledged() }

  private enum Outcome {
    case delivered
    case rejected(String)
  }

  private func post(_ batch: ArraySlice<Spool.Record>) throws(TransportError) -> Outcome {
    var body = ByteBuffer()
    switch configuration.http.profile {
    case .webhook where !configuration.http.ndjson:
      body.writeString("[")
      for (index, record) in batch.enumerated() {
        if index > 0 { body.writeString(",") }
        body.writeBytes(record.payload)
      }
      body.writeString("]")
    default:
      for record in batch {
        body.writeBytes(record.payload)
        if record.payload.last != UInt8(ascii: "\n") { body.writeString("\n") }
      }
    }
    var requestHeaders = headers
    if configuration.http.gzip {
      do {
        body = try body.compress(with: .gzip())
        requestHeaders.add(name: "Content-Encoding", value: "gzip")
      } catch {
        // Compression cannot fail on well-formed input; should it, the batch goes uncompressed.
      }
    }
    let response: HTTPClient.Response
    do {
      let request = try HTTPClient.Request(
        url: url, method: .POST, headers: requestHeaders, body: .byteBuffer(body))
      response = try client.execute(
        request: request, delegate: ResponseAccumulator(request: request, maxBodySize: maximumResponseBytes),
        deadline: .now() + .milliseconds(Int64(configuration.http.timeoutMilliseconds))
      ).wait()
    } catch is ResponseAccumulator.ResponseTooBigError {
      oversizedResponses += 1
      throw .broken("\(url): the answer's body passed \(maximumResponseBytes) bytes; not read further")
    } catch let error as HTTPClientError {
      // Its full text can quote a header: a secret, perhaps. The short one never has values.
      if error.shortDescription.hasPrefix("Invalid header field") {
        throw .misconfigured("\(url): \(error.shortDescription) (not shown)")
      }
      throw .unreachable("\(url): \(error.shortDescription)")
    } catch {
      throw .unreachable("\(url): \(error)")
    }
    let status = response.status.code
    switch status {
    case 300..<400:
      // Followed, a redirect would send the alerts (and credentials) to a host nobody configured.
      throw .misconfigured(
        "\(url): HTTP \(status), a redirect, is not followed; the output's URL must name the receiver itself")
    case 200..<300:
      guard configuration.http.profile == .elasticsearch else { return .delivered }
      return try bulkItems(response, batch)
    case 400, 401, 403, 413:
      return .rejected("HTTP \(status)\(Self.excerpt(response))")
    case 429, 503:
      throw .retryLater("\(url): HTTP \(status)", Self.retryAfter(response))
    default:
      throw .broken("\(url): HTTP \(status)\(Self.excerpt(response))")
    }
  }

  /// `_bulk` answers 200 with a result per item: 2xx stored, 409 already stored (a resend of a
  /// record that reached the index before), 400 rejected for good, 429/5xx to send again.
  private func bulkItems(_ response: HTTPClient.Response, _ batch: ArraySlice<Spool.Record>) throws(TransportError)
    -> Outcome
  {
    guard let body = response.body,
      let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
      let items = object["items"] as? [[String: Any]], items.count == batch.count
    else {
      throw .broken("\(url): a _bulk answer without one item per record")
    }
    var retry: String?
    var rejected: [(Spool.Record, String)] = []
    for (record, item) in zip(batch, items) {
      let result = (item["create"] ?? item["index"]) as? [String: Any]
      let status = result?["status"] as? Int ?? 0
      switch status {
      case 200..<300, 409: continue
      case 400..<500 where status != 429:
        let error = (result?["error"] as? [String: Any])?["type"] as? String ?? "rejected"
        rejected.append((record, "item HTTP \(status): \(error)"))
      default:
        retry = "item HTTP \(status)"
      }
    }
    if let retry {
      // Idempotent: the items stored meanwhile answer 409 next time.
      throw .retryLater("\(url): \(retry)", nil)
    }
    for (record, reason) in rejected { deadLetter([record][...], reason) }
    return .delivered
  }

  private func deadLetter(_ records: ArraySlice<Spool.Record>, _ reason: String) {
    for record in records { deadLetters.write(record, reason: reason) }
    deadLettered += UInt64(records.count)
  }

  private static func excerpt(_ response: HTTPClient.Response) -> String {
    guard let body = response.body, body.readableBytes > 0 else { return "" }
    return ": " + String(decoding: body.readableBytesView.prefix(200), as: UTF8.self)
  }

  /// Retry-After as seconds or an HTTP date, in milliseconds.
  static func retryAfter(_ response: HTTPClient.Response) -> Int? {
    guard let value = response.headers.first(name: "Retry-After")?.trimmingCharacters(in: .whitespaces) else {
      return nil
    }
    if let seconds = Int(value) { return max(0, seconds) * 1_000 }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
    guard let date = formatter.date(from: value) else { return nil }
    return max(0, Int(date.timeIntervalSinceNow * 1_000))
  }
}

/// Records a receiver refused for good, one JSON line each, beside the output's spool: counted,
/// logged, kept for an operator (rotated at 64 MiB, one previous file kept).
final class DeadLetterFile {
  let path: String
  private let output: String
  static let maximumBytes = 64 << 20

  init(path: String, output: String) {
    self.path = path
    self.output = output
  }

  func write(_ record: Spool.Record, reason: String) {
    let object: [String: Any] = [
      "time": ISO8601DateFormatter().string(from: Date()), "output": output, "reason": reason,
      "sequence": record.sequence, "record": String(decoding: record.payload, as: UTF8.self),
    ]
    guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
    line.append(UInt8(ascii: "\n"))
    let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    if size + line.count > Self.maximumBytes {
      _ = try? FileManager.default.removeItem(atPath: path + ".1")
      _ = try? FileManager.default.moveItem(atPath: path, toPath: path + ".1")
    }
    if !FileManager.default.fileExists(atPath: path) {
      _ = FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
    }
    guard let handle = FileHandle(forWritingAtPath: path) else { return }
    defer { try? handle.close() }
    _ = try? handle.seekToEnd()
    try? handle.write(contentsOf: line)
  }
}

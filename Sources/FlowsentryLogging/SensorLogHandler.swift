import FlowsentryCore
import Logging

#if canImport(Glibc)
  import Glibc
#endif

extension Logger.Level {
  /// The configuration's level as swift-log's (the same names).
  public init(_ level: LogLevel) {
    switch level {
    case .trace: self = .trace
    case .debug: self = .debug
    case .info: self = .info
    case .notice: self = .notice
    case .warning: self = .warning
    case .error: self = .error
    case .critical: self = .critical
    }
  }
}

/// swift-log's handler for the sensor: one `write(2)` per record to stderr (unbuffered, so that a
/// crash loses nothing already logged), as text or JSON lines. Metadata renders in key order,
/// nested dictionaries as `key{…}` in text and as objects in JSON; numbers stay numbers in JSON.
public struct SensorLogHandler: LogHandler {
  public var logLevel: Logger.Level
  public var metadata: Logger.Metadata = [:]
  public let format: LogFormat
  private let label: String
  private let write: @Sendable ([UInt8]) -> Void

  public init(
    label: String, format: LogFormat, level: Logger.Level,
    write: @escaping @Sendable ([UInt8]) -> Void = SensorLogHandler.standardError
  ) {
    self.label = label
    self.format = format.resolved
    self.logLevel = level
    self.write = write
  }

  /// Makes every `Logger` of the process use this handler (once per process, before any logging).
  public static func bootstrap(format: LogFormat, level: Logger.Level) {
    LoggingSystem.bootstrap { label in SensorLogHandler(label: label, format: format, level: level) }
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var all = metadata
    if let extra = event.metadata { all.merge(extra) { _, new in new } }
    var line: [UInt8]
    switch format {
    case .json: line = Self.json(level: event.level, label: label, message: "\(event.message)", metadata: all)
    case .text, .auto: line = Array(Self.text(level: event.level, message: "\(event.message)", metadata: all).utf8)
    }
    line.append(UInt8(ascii: "\n"))
    write(line)
  }

  @Sendable public static func standardError(_ bytes: [UInt8]) {
    var offset = 0
    while offset < bytes.count {
      let written = bytes[offset...].withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
      if written < 0 && errno == EINTR { continue }
      if written <= 0 { return }
      offset += written
    }
  }

  // MARK: Text

  static func text(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
    var line = "flowsentry: "
    if level != .info && level != .notice { line += "\(level): " }
    line += message
    for key in metadata.keys.sorted() { line += " " + text(key: key, metadata[key]!) }
    return line
  }

  /// `key=value` or `key{…}`: also how `flowsentry status` prints the counter table, one key a line.
  public static func text(key: String, _ value: Logger.Metadata.Value) -> String {
    switch value {
    case .dictionary(let nested):
      return key + "{" + nested.keys.sorted().map { text(key: $0, nested[$0]!) }.joined(separator: " ") + "}"
    case .array(let items):
      return key + "=[" + items.map { "\($0)" }.joined(separator: ",") + "]"
    case .string(let string):
      return key + "=" + (string.contains(" ") || string.isEmpty ? "\"\(string)\"" : string)
    case .stringConvertible(let value):
      return key + "=\(value)"
    }
  }

  // MARK: JSON

  static func json(level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> [UInt8] {
    var json = "{\"time\":" + quoted(RFC3339Clock.now()) + ",\"level\":" + quoted("\(level)")
    json += ",\"logger\":" + quoted(label) + ",\"message\":" + quoted(message)
    for key in metadata.keys.sorted() { json += "," + quoted(key) + ":" + jsonValue(metadata[key]!) }
    return Array((json + "}").utf8)
  }

  private static func jsonValue(_ value: Logger.Metadata.Value) -> String {
    switch value {
    case .dictionary(let nested):
      return "{" + nested.keys.sorted().map { quoted($0) + ":" + jsonValue(nested[$0]!) }.joined(separator: ",") + "}"
    case .array(let items): return "[" + items.map(jsonValue).joined(separator: ",") + "]"
    case .string(let string): return quoted(string)
    case .stringConvertible(let value):
      switch value {
      case let number as any BinaryInteger: return "\(number)"
      case let number as Double where number.isFinite: return "\(number)"
      case let flag as Bool: return flag ? "true" : "false"
      default: return quoted(value.description)
      }
    }
  }

  /// A JSON string literal, escaped as the event schema escapes strings.
  static func quoted(_ text: String) -> String { String(decoding: JSONText.quoted(text), as: UTF8.self) }
}

/// The wall clock as RFC 3339 UTC with microseconds, for log records: the events' format, cut
/// to microseconds (a log record needs no more).
enum RFC3339Clock {
  static func now() -> String {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    var text = RFC3339.format(nanoseconds: Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec))
    let nanosecondDigits = text.index(text.endIndex, offsetBy: -4)..<text.index(before: text.endIndex)
    text.removeSubrange(nanosecondDigits)
    return text
  }
}

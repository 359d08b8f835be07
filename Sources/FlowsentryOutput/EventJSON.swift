import FlowsentryCore

/// The JSON-lines event schema (documented in README.md, "Event schema"). Keys are written in a
/// fixed order so that lines are stable and diffable; bump `schemaVersion` on any incompatible change.
public enum EventJSON {
  public static let schemaVersion = 1

  public struct Context: Sendable {
    public var hostName: String
    public init(hostName: String) { self.hostName = hostName }
  }

  /// One event as one line of JSON, without the trailing newline.
  public static func line(for event: FlowEvent, context: Context) -> String {
    var json = JSONObjectWriter()
    json.field("schema_version", schemaVersion)
    json.field("event", event.name.rawValue)
    json.field("time", RFC3339.format(nanoseconds: event.timestamp))
    json.field("timestamp_ns", event.timestamp)
    json.field("host", context.hostName)
    json.field("cgroup_id", event.cgroupID)
    json.field("socket_cookie", event.socketCookie)
    if let process = event.process {
      json.object("process") { processFields in
        processFields.field("pid", process.pid)
        processFields.field("comm", process.command)
        processFields.field("uid", process.uid)
      }
    } else {
      json.null("process")
    }
    json.object("args") { args in
      args.field("conn_direction", event.direction.rawValue)
      args.field("src", event.source.address.description)
      args.field("dst", event.destination.address.description)
      args.field("src_port", event.source.port)
      args.field("dst_port", event.destination.port)
      args.field("src_dns", event.sourceNames)
      args.field("dst_dns", event.destinationNames)
      if let reason = event.closeReason { args.field("close_reason", reason.rawValue) }
      if let side = event.terminatedBy { args.field("terminated_by", side.rawValue) }
      if event.name == .netFlowTCPEnd {
        if let duration = event.durationNanoseconds {
          args.field("duration_ns", duration)
        } else {
          args.null("duration_ns")
        }
      }
    }
    return json.finish()
  }
}

/// A minimal writer for JSON objects with keys in insertion order.
struct JSONObjectWriter {
  private var text = "{"
  private var first = true

  private mutating func key(_ name: String) {
    if !first { text += "," }
    first = false
    JSONString.append(name, to: &text)
    text += ":"
  }

  mutating func field(_ name: String, _ value: String) {
    key(name)
    JSONString.append(value, to: &text)
  }

  mutating func field<Number: BinaryInteger>(_ name: String, _ value: Number) {
    key(name)
    text += String(value)
  }

  mutating func field(_ name: String, _ values: [String]) {
    key(name)
    text += "["
    for (index, value) in values.enumerated() {
      if index > 0 { text += "," }
      JSONString.append(value, to: &text)
    }
    text += "]"
  }

  mutating func null(_ name: String) {
    key(name)
    text += "null"
  }

  mutating func object(_ name: String, _ build: (inout JSONObjectWriter) -> Void) {
    key(name)
    var nested = JSONObjectWriter()
    build(&nested)
    text += nested.finish()
  }

  func finish() -> String { text + "}" }
}

enum JSONString {
  /// Appends `value` as a JSON string literal (RFC 8259 escaping; control characters as \u00XX).
  static func append(_ value: String, to text: inout String) {
    text += "\""
    for scalar in value.unicodeScalars {
      switch scalar {
      case "\"": text += "\\\""
      case "\\": text += "\\\\"
      case "\n": text += "\\n"
      case "\r": text += "\\r"
      case "\t": text += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: text.unicodeScalars.append(scalar)
      }
    }
    text += "\""
  }
}

/// RFC 3339 UTC timestamps with nanoseconds, computed without Foundation's formatters.
public enum RFC3339 {
  public static func format(nanoseconds: Int64) -> String {
    let seconds = nanoseconds >= 0 ? nanoseconds / 1_000_000_000 : (nanoseconds - 999_999_999) / 1_000_000_000
    let fraction = nanoseconds - seconds * 1_000_000_000
    var days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    let secondOfDay = seconds - days * 86_400
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    days += 719_468
    let era = (days >= 0 ? days : days - 146_096) / 146_097
    let dayOfEra = days - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    func pad(_ value: Int64, _ width: Int) -> String {
      let digits = String(value)
      return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
    return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
      + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(fraction, 9))Z"
  }
}

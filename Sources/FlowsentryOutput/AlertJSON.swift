import FlowsentryCore

/// Alerts as JSON lines (README.md, "Alert schema"), the events they carry in the event schema.
public enum AlertJSON {
  public static func line(for alert: Alert, context: EventJSON.Context) -> String {
    var bytes: [UInt8] = []
    append(alert, context: context, to: &bytes)
    return String(decoding: bytes, as: UTF8.self)
  }

  public static func append(_ alert: Alert, context: EventJSON.Context, to bytes: inout [UInt8]) {
    var json = JSONBytes(bytes: consume bytes)
    json.raw(#"{"schema_version":1,"type":"alert","alert_id":"#)
    json.string(alert.id)
    json.raw(#","time":""#)
    json.rfc3339(nanoseconds: alert.timestamp)
    json.raw(#"","timestamp_ns":"#)
    json.integer(alert.timestamp)
    json.raw(#","host":"#)
    json.bytes.append(contentsOf: context.hostNameJSON)
    json.raw(#","rule":{"id":"#)
    json.string(alert.ruleID)
    json.raw(#","name":"#)
    json.string(alert.ruleName)
    json.raw(#","severity":"#)
    json.string(alert.severity)
    json.raw(#","tags":"#)
    json.strings(alert.tags)
    json.raw(#"},"message":"#)
    json.string(alert.message)
    json.raw(#","group":{"#)
    for (index, entry) in alert.group.enumerated() {
      if index > 0 { json.raw(",") }
      json.string(entry.field)
      json.raw(":")
      json.string(entry.value)
    }
    json.raw(#"},"count":"#)
    json.integer(alert.count)
    json.raw(#","window_ns":"#)
    if let window = alert.windowNanoseconds { json.integer(window) } else { json.raw("null") }
    json.raw(#","suppressed":"#)
    json.integer(alert.suppressed)
    json.raw(#","events":["#)
    bytes = json.bytes
    for (index, event) in alert.events.enumerated() {
      if index > 0 { bytes.append(UInt8(ascii: ",")) }
      EventJSON.append(event, context: context, to: &bytes, cache: nil)
    }
    json = JSONBytes(bytes: consume bytes)
    json.raw(#"],"events_left_out":"#)
    json.integer(alert.eventsLeftOut)
    json.raw("}")
    bytes = json.bytes
  }
}

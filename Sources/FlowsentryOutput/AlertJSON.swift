import FlowsentryCore

/// Alerts as JSON lines (docs/EVENTS.md, "Alert schema"), the events they carry in the event schema.
extension JSONBytes {
  /// The group's fields (the opening `{` written by the caller), then `count`, `window_ns` and
  /// `suppressed`: what the native and the ECS alert share.
  mutating func groupCountWindowSuppressed(_ alert: Alert) {
    for (index, entry) in alert.group.enumerated() {
      if index > 0 { raw(",") }
      string(entry.field)
      raw(":")
      string(entry.value)
    }
    raw(#"},"count":"#)
    integer(alert.count)
    raw(#","window_ns":"#)
    if let window = alert.windowNanoseconds { integer(window) } else { raw("null") }
    raw(#","suppressed":"#)
    integer(alert.suppressed)
  }
}

public enum AlertJSON {
  /// The Community ID all of the alert's events share (one flow), or nil when they span several
  /// flows or there are none; each event carries its own either way.
  static func sharedCommunityID(_ alert: Alert, _ id: CommunityID) -> String? {
    var shared: String?
    for event in alert.events {
      let value: String
      switch event {
      case .flow(let flow): value = id.string(flow.source, flow.destination, transport: CommunityID.tcp)
      case .dns(let dns):
        value = id.string(
          dns.source, dns.destination, transport: dns.transport == .udp ? CommunityID.udp : CommunityID.tcp)
      }
      if let shared, shared != value { return nil }
      shared = value
    }
    return shared
  }

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
    json.string(alert.severity.rawValue)
    json.raw(#","tags":"#)
    json.strings(alert.tags)
    json.raw(#"},"message":"#)
    json.string(alert.message)
    json.raw(#","community_id":"#)
    if let shared = sharedCommunityID(alert, context.communityID) { json.string(shared) } else { json.raw("null") }
    json.nativeIndicator(alert)
    json.measurements(alert)
    json.raw(#","group":{"#)
    json.groupCountWindowSuppressed(alert)
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

extension JSONBytes {
  /// `,"measurements":{…}` when a behaviour rule measured something (beaconing: score, period_ms,
  /// jitter_ms); nothing otherwise. A value that is not finite is written as null.
  mutating func measurements(_ alert: Alert) {
    guard !alert.measurements.isEmpty else { return }
    raw(#","measurements":{"#)
    for (index, measurement) in alert.measurements.enumerated() {
      if index > 0 { raw(",") }
      string(measurement.name)
      raw(":")
      if measurement.value.isFinite { bytes += "\(measurement.value)".utf8 } else { raw("null") }
    }
    raw("}")
  }
}

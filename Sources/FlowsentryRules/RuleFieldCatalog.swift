import FlowsentryCore

/// The rule fields, for checks outside the engine (the aggregate checks its partition key
/// against them), read from the engine's own field table so that the two cannot disagree.
public enum RuleFieldCatalog {
  public static func isField(_ name: String) -> Bool { Fields.byName[name] != nil }

  /// Whether a DNS event (`net_packet_dns`) can have a value for the field: false for the flow
  /// fields its accessor leaves missing on every DNS event (`remote`, `local`, `conn_direction`…).
  /// Read off a DNS event with every part set, through the engine's accessors.
  public static func dnsEventsCarry(_ name: String) -> Bool {
    guard let field = Fields.byName[name] else { return false }
    return Fields.value(field, of: populatedDNSEvent) != .missing
  }

  private static var populatedDNSEvent: EventFields {
    var event = DNSEvent(
      timestamp: 1, source: Endpoint(.v4(0xC633_6401), 53), destination: Endpoint(.v4(0xCB00_7101), 40_000),
      transport: .udp, cgroupID: 1, id: 1, responseCode: 0, questions: ["example.org"],
      answers: [DNSEvent.Answer(name: "example.org", type: "A", timeToLive: 60, data: "203.0.113.9")],
      truncated: false)
    event.host = "sensor"
    return EventFields(.dns(event))
  }
}

import FlowsentryCore

/// Alerts and events as Elastic Common Schema (9.x) documents, for SIEMs that index ECS.
///
/// Network, host and process fields come from the alert's first flow event (the one that raised it,
/// or the oldest of a threshold's window), or for a lookup's alert from its DNS event (`source`,
/// `destination`, `network`, `dns`); the rule's own fields, the ATT&CK techniques of its tags,
/// and the native events under `flowsentry`.
public enum ECSJSON {
  public static let version: StaticString = "9.0.0"

  /// `event.severity` of a rule severity, on Elastic Security's 0–100 risk scale.
  public static func severity(ofRule severity: Severity) -> Int {
    switch severity {
    case .critical: 99
    case .high: 73
    case .medium: 47
    case .low: 21
    case .info: 1
    }
  }

  /// ATT&CK technique and sub-technique ids among the tags (T1046, T1071.004).
  static func techniques(_ tags: [String]) -> [String] {
    tags.filter { tag in
      let parts = tag.split(separator: ".", omittingEmptySubsequences: false)
      guard let head = parts.first, head.count == 5, head.first == "T", head.dropFirst().allSatisfy(\.isNumber),
        parts.count <= 2
      else { return false }
      return parts.count == 1 || (parts[1].count == 3 && parts[1].allSatisfy(\.isNumber))
    }
  }

  public static func append(_ alert: Alert, context: EventJSON.Context, to bytes: inout [UInt8]) {
    var json = JSONBytes(bytes: consume bytes)
    json.raw(#"{"@timestamp":""#)
    json.rfc3339(nanoseconds: alert.timestamp)
    json.raw(#"","ecs":{"version":""#)
    json.raw(version)
    json.raw(#""},"event":{"kind":"alert","category":["network","intrusion_detection"],"type":["info"],"#)
    json.raw(#""severity":"#)
    json.integer(severity(ofRule: alert.severity))
    json.raw(#","id":"#)
    json.string(alert.id)
    json.raw(#","module":"flowsentry","dataset":"flowsentry.alert"},"message":"#)
    json.string(alert.message)
    json.raw(#","rule":{"id":"#)
    json.string(alert.ruleID)
    json.raw(#","name":"#)
    json.string(alert.ruleName)
    json.raw(#","description":"#)
    // A folded YAML scalar (`description: >`) ends with a newline, no part of the text.
    var description = Substring(alert.ruleDescription)
    while let last = description.last, last.isWhitespace { description.removeLast() }
    json.string(String(description))
    // ECS rule.reference is a URL; a rule with several gives an array of them (any ECS field may be one).
    json.raw(#","reference":"#)
    json.strings(alert.ruleReferences)
    json.raw(#","ruleset":"flowsentry"}"#)
    let flow = alert.events.lazy.compactMap { event -> FlowEvent? in
      if case .flow(let flow) = event { return flow }
      return nil
    }.first
    var lookup: DNSEvent?
    if flow == nil, case .dns(let dns) = alert.events.first { lookup = dns }
    let related = ECSRelated(alert, flow: flow, lookup: lookup)
    json.ecsThreat(
      techniques: techniques(alert.tags), indicator: alert.indicator,
      matched: alert.indicator.map { matched($0, flow: flow, dns: lookup, related: related) })
    json.raw(#","tags":"#)
    json.strings(alert.tags)
    if let flow {
      json.flowFields(flow, context: context, indicator: alert.indicator)
    } else if let lookup {
      json.dnsFields(lookup, context: context)
    } else {
      json.hostField(context)
    }
    json.ecsRelated(related)
    json.raw(#","flowsentry":{"alert":{"group":{"#)
    json.groupCountWindowSuppressed(alert)
    json.raw(#","events_left_out":"#)
    json.integer(alert.eventsLeftOut)
    json.ecsIndicatorSource(alert.indicator)
    json.raw(#"},"events":["#)
    bytes = json.bytes
    for (index, event) in alert.events.enumerated() {
      if index > 0 { bytes.append(UInt8(ascii: ",")) }
      EventJSON.append(event, context: context, to: &bytes)
    }
    bytes += Array("]}}".utf8)
  }

  public static func append(_ event: SensorEvent, context: EventJSON.Context, to bytes: inout [UInt8]) {
    var json = JSONBytes(bytes: consume bytes)
    json.raw(#"{"@timestamp":""#)
    json.rfc3339(nanoseconds: event.timestamp)
    json.raw(#"","ecs":{"version":""#)
    json.raw(version)
    json.raw(#""},"event":{"kind":"event","category":["network"],"type":"#)
    switch event {
    case .flow(let flow):
      switch flow.name {
      case .netFlowTCPBegin: json.raw(#"["connection","start"]"#)
      case .netFlowTCPEnd: json.raw(#"["connection","end"]"#)
      default: json.raw(#"["connection","info"]"#)
      }
      json.raw(#","action":"#)
      json.string(flow.name.rawValue)
      json.raw(#","module":"flowsentry","dataset":"flowsentry.flow"}"#)
      json.flowFields(flow, context: context)
    case .dns(let dns):
      json.raw(#"["protocol"],"action":"net_packet_dns","module":"flowsentry","dataset":"flowsentry.dns"}"#)
      json.dnsFields(dns, context: context)
    }
    json.raw(#","flowsentry":{"event":"#)
    bytes = json.bytes
    EventJSON.append(event, context: context, to: &bytes)
    bytes += Array("}}".utf8)
  }
}

extension JSONBytes {
  /// `source`, `client`, `destination`, `server`, `network`, `dns` and `host` of one lookup: a DNS
  /// event's, and a lookup alert's (one with no flow event), whose asking socket and question a SIEM
  /// would otherwise find only in `message` and the embedded events. A DNS event reads as its answer
  /// packet (`src` the resolver, `dst` the asking socket; a question nobody answered reads the same,
  /// EVENTS.md), but ECS's `source` is the side that initiated: the host that asked, which is the
  /// one to investigate, and the connection after a lookup alert is folded into it.
  fileprivate mutating func dnsFields(_ dns: DNSEvent, context: EventJSON.Context) {
    for (key, endpoint) in [
      ("source", dns.destination), ("client", dns.destination), ("destination", dns.source), ("server", dns.source),
    ] {
      openEndpoint(key, endpoint)
      raw("}")
    }
    raw(#","network":{"transport":""#)
    raw(dns.transport == .udp ? "udp" : "tcp")
    raw(#"","protocol":"dns","community_id":""#)
    context.communityID.append(
      dns.source, dns.destination, transport: dns.transport == .udp ? CommunityID.udp : CommunityID.tcp,
      to: &bytes)
    // ECS's `dns.type`: an answer, or a question no answer came to (`answered: false`).
    raw(#""},"dns":{"type":""#)
    raw(dns.answered ? "answer" : "query")
    raw(#"","id":""#)
    integer(dns.id)
    raw(#"","question":{"name":"#)
    string(dns.questions.first ?? "")
    raw(#"},"resolved_ip":"#)
    strings(dns.answers.filter { $0.type == "A" || $0.type == "AAAA" }.map(\.data))
    // ECS's `dns.answers`: the aliases too, which an alert's `threat.enrichments.matched.field` may name.
    raw(#","answers":["#)
    for (index, answer) in dns.answers.enumerated() {
      if index > 0 { raw(",") }
      raw(#"{"name":"#)
      string(answer.name)
      raw(#","type":"#)
      string(answer.type)
      raw(#","ttl":"#)
      integer(answer.timeToLive)
      raw(#","data":"#)
      string(answer.data)
      raw("}")
    }
    raw("]}")
    hostField(context)
  }

  /// `,"KEY":{"ip":"…","port":N` of one side, left open for the fields a flow's sides add.
  private mutating func openEndpoint(_ key: String, _ endpoint: Endpoint) {
    raw(",")
    string(key)
    raw(#":{"ip":""#)
    address(endpoint.address)
    raw(#"","port":"#)
    integer(endpoint.port)
  }

  /// `source`, `destination`, `network`, `host`, `process` and `user` of one flow; an alert's
  /// `indicator` picks each side's `domain` (``ECSJSON/sideName(_:_:)``).
  fileprivate mutating func flowFields(
    _ flow: FlowEvent, context: EventJSON.Context, indicator: IntelIndicatorMatch? = nil
  ) {
    let sides = flow.volumeBySide
    for (key, endpoint, names, sent) in [
      ("source", flow.source, flow.sourceNames, sides?.source),
      ("destination", flow.destination, flow.destinationNames, sides?.destination),
    ] {
      openEndpoint(key, endpoint)
      if let name = ECSJSON.sideName(names, indicator) {
        raw(#","domain":"#)
        string(name)
      }
      if let sent {
        raw(#","bytes":"#)
        integer(sent.bytes)
        raw(#","packets":"#)
        integer(sent.packets)
      }
      raw("}")
    }
    raw(#","network":{"transport":"tcp","type":""#)
    raw(flow.source.address.unmappingIPv4.isIPv4 ? "ipv4" : "ipv6")
    raw(#"","direction":""#)
    raw(flow.direction == .outgoing ? "egress" : "ingress")
    raw(#"","community_id":""#)
    context.communityID.append(flow.source, flow.destination, transport: CommunityID.tcp, to: &bytes)
    if let sides {
      raw(#"","bytes":"#)
      integer(sides.source.bytes.saturatingAddition(sides.destination.bytes))
      raw(#","packets":"#)
      integer(sides.source.packets.saturatingAddition(sides.destination.packets))
      raw("}")
    } else {
      raw(#""}"#)
    }
    hostField(context)
    if let process = flow.process {
      raw(#","process":{"pid":"#)
      integer(process.pid)
      raw(#","name":"#)
      string(process.command)
      raw(#"},"user":{"id":""#)
      integer(process.uid)
      raw(#""}"#)
    }
  }

  fileprivate mutating func hostField(_ context: EventJSON.Context) {
    raw(#","host":{"name":"#)
    bytes.append(contentsOf: context.hostNameJSON)
    raw("}")
  }
}

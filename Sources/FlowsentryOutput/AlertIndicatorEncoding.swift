import FlowsentryCore

/// The listed indicator an alert names, in each alert encoding: native `indicator`, ECS `threat.*`
/// (README.md, "Alert schema"), CEF custom strings 4–6.
extension JSONBytes {
  /// `,"indicator":{…}` when a threat-intel list decided the alert; nothing otherwise.
  mutating func nativeIndicator(_ alert: Alert) {
    guard let match = alert.indicator else { return }
    raw(#","indicator":{"value":"#)
    string(match.indicator)
    raw(#","type":"#)
    string(match.type)
    raw(#","list":"#)
    string(match.list)
    raw(#","source":"#)
    string(match.source)
    raw("}")
  }

  /// `,"threat":{…}` with the ATT&CK techniques and the indicator, when there is either. The match
  /// goes in `threat.enrichments` (ECS threat-usage, "Enriched events": an event a listed indicator
  /// matched carries it there, with what matched); `threat.indicator` and `threat.feed` are for
  /// documents that are indicators, but issue #18 named them and consumers read them, so they stay.
  /// `matched` is the value as this document holds it and the ECS field holding it (``ECSJSON/matched``).
  mutating func ecsThreat(
    techniques: [String], indicator: IntelIndicatorMatch?, matched: (atomic: String, field: String?)?
  ) {
    guard !techniques.isEmpty || indicator != nil else { return }
    raw(#","threat":{"#)
    if !techniques.isEmpty {
      // ECS threat.technique.id takes techniques (T1071), threat.technique.subtechnique.id the full
      // id of a sub-technique (T1071.004): a sub-technique tag names its parent in the first.
      var parents: [String] = []
      for technique in techniques {
        let parent = String(technique.prefix { $0 != "." })
        if !parents.contains(parent) { parents.append(parent) }
      }
      let subtechniques = techniques.filter { $0.contains(".") }
      raw(#""framework":"MITRE ATT&CK","technique":{"id":"#)
      strings(parents)
      if !subtechniques.isEmpty {
        raw(#","subtechnique":{"id":"#)
        strings(subtechniques)
        raw("}")
      }
      raw("}")
      if indicator != nil { raw(",") }
    }
    if let indicator {
      raw(#""feed":{"name":"#)
      string(indicator.list)
      raw(#"},"indicator":"#)
      ecsIndicator(indicator)
      raw(#","enrichments":[{"indicator":"#)
      ecsIndicator(indicator)
      raw(#","feed":{"name":"#)
      string(indicator.list)
      raw(#"},"matched":{"#)
      if let matched, !matched.atomic.isEmpty {
        raw(#""atomic":"#)
        string(matched.atomic)
        raw(",")
      }
      if let field = matched?.field {
        raw(#""field":"#)
        string(field)
        raw(",")
      }
      raw(#""type":"indicator_match_rule"}}]"#)
    }
    raw("}")
  }

  /// `{…}`: the listed indicator, as ECS's `threat.indicator` and `threat.enrichments.indicator` take it.
  private mutating func ecsIndicator(_ indicator: IntelIndicatorMatch) {
    raw(#"{"name":"#)
    string(indicator.forSIEM)
    // ECS `provider` names who published the indicator (Abuse.ch): the feed's meta.source or its
    // file, never the line's position, which is in `flowsentry.alert.indicator` (``ecsIndicatorSource``).
    if !indicator.provider.isEmpty {
      raw(#","provider":"#)
      string(indicator.provider)
    }
    switch indicator.type {
    case "domain":
      raw(#","type":"domain-name","url":{"domain":"#)
      string(indicator.indicator)
      raw("}")
    case "address":
      raw(indicator.indicator.contains(":") ? #","type":"ipv6-addr""# : #","type":"ipv4-addr""#)
      // `threat.indicator.ip` holds one address: a listed host, not a block.
      if let host = indicator.listedHost {
        raw(#","ip":"#)
        string(host)
      }
    case "port":
      raw(#","type":"port","port":"#)
      integer(Int(indicator.indicator) ?? 0)
    default:
      break
    }
    raw("}")
  }

  /// `,"indicator":{"source":…,"file":…,"line":…}` inside ECS's `flowsentry.alert`: where the
  /// list read the indicator, which ECS has no field for (`threat.indicator.reference` is a URL
  /// about the indicator, `threat.feed.reference` one about the feed), for a SOC to open the
  /// feed at the line. `source` is the native alert's text, `file` and `line` the same apart.
  mutating func ecsIndicatorSource(_ indicator: IntelIndicatorMatch?) {
    guard let indicator else { return }
    raw(#","indicator":{"source":"#)
    string(indicator.source)
    if !indicator.file.isEmpty {
      raw(#","file":"#)
      string(indicator.file)
    }
    if indicator.line > 0 {
      raw(#","line":"#)
      integer(indicator.line)
    }
    raw("}")
  }
}

extension IntelIndicatorMatch {
  /// The address of a listed host (`203.0.113.66/32`, `2001:db8::1/128`); nil for a block or another type.
  var listedHost: String? {
    guard type == "address" else { return nil }
    let parts = indicator.split(separator: "/")
    guard parts.count == 2, parts[1] == (indicator.contains(":") ? "128" : "32") else { return nil }
    return String(parts[0])
  }

  /// The rule fields whose values are host names, in which a list's match is a name of the event.
  static let nameFields: Set<String> = ["src_dns", "dst_dns", "remote_dns", "dns.questions", "dns.answers"]

  /// The host name a list matched, when the rule read it from a name field (an alias among the
  /// answers, a peer's name); nil for an address, a port, a process name.
  var matchedName: String? {
    guard type == "domain" || type == "string", !matchedValue.isEmpty, Self.nameFields.contains(matchedField),
      matchedNameFieldAddress == nil
    else { return nil }
    return matchedValue
  }

  /// The address a `domain` or `string` list matched in a name field: `dns.answers` holds an A or
  /// AAAA answer's address beside the aliases, so a string list of addresses matches there. It is
  /// no host name (ECS `related.hosts`, `*.domain`) but an address of the event (`related.ip`).
  var matchedNameFieldAddress: IPAddress? {
    guard type == "domain" || type == "string", Self.nameFields.contains(matchedField) else { return nil }
    return IPAddress(matchedValue)
  }

  /// The indicator as ECS `threat.indicator.name` and CEF `cs4` give it: a listed host as its bare
  /// address, so that a SIEM joins it with `destination.ip` or `dst`; a block, a domain as listed.
  /// The native alert and the rule texts keep the list's own form (`/32`).
  var forSIEM: String { listedHost ?? indicator }
}

extension ECSJSON {
  /// A side's one name (ECS `source.domain`, `destination.domain`, CEF `shost`, `dhost`): the name
  /// a list matched when the side has it, else the side's first. ECS defines `*.domain` as one
  /// keyword, not an array (no "array" normalization), so the alias an alert is about takes the
  /// place of the first name rather than joining it; every name is in `related.hosts`.
  static func sideName(_ names: [String], _ indicator: IntelIndicatorMatch?) -> String? {
    if let name = indicator?.matchedName, names.contains(name) { return name }
    return names.first
  }

  /// ECS `threat.enrichments.matched`: the value a list matched as this document holds it, and the
  /// field holding it; the field is nil when the document holds the value nowhere (ECS leaves
  /// matched.field optional), never one the document lacks (`dns.*` in a flow's document) or
  /// holds another value in (`dns.question.name` is the first question only). An address is
  /// compared as an address and written as the field writes it, an IPv4-mapped side's too.
  static func matched(_ match: IntelIndicatorMatch, flow: FlowEvent?, dns: DNSEvent?, related: ECSRelated) -> (
    atomic: String, field: String?
  ) {
    let value = match.matchedValue
    guard !value.isEmpty else { return (value, nil) }
    // What the document carries, field by field, as ``dnsFields`` and ``flowFields`` write it.
    var carried: [(field: String, value: String)] = []
    if let flow {
      carried += [
        ("destination.ip", "\(flow.destination.address)"), ("source.ip", "\(flow.source.address)"),
        ("destination.port", String(flow.destination.port)), ("source.port", String(flow.source.port)),
      ]
      if let name = sideName(flow.destinationNames, match) { carried.append(("destination.domain", name)) }
      if let name = sideName(flow.sourceNames, match) { carried.append(("source.domain", name)) }
      if let process = flow.process { carried.append(("process.name", process.command)) }
    } else if let dns {
      // A lookup's document has the asker in `source` (``dnsFields``).
      carried += [
        ("destination.ip", "\(dns.source.address)"), ("source.ip", "\(dns.destination.address)"),
        ("destination.port", String(dns.source.port)), ("source.port", String(dns.destination.port)),
      ]
      if let question = dns.questions.first { carried.append(("dns.question.name", question)) }
      carried += dns.answers.map { ("dns.answers.data", $0.data) }
      carried += dns.answers.map { ("dns.answers.name", $0.name) }
    }
    carried += related.addresses.map { ("related.ip", $0) }
    carried += related.hosts.map { ("related.hosts", $0) }

    let fields: [String]
    let holds: (String) -> Bool
    // A name list's match that is an address (an A answer) is compared and named as an address list's.
    switch match.matchedNameFieldAddress != nil ? "address" : match.type {
    case "address":
      guard let address = IPAddress(value)?.unmappingIPv4 else { return (value, nil) }
      fields =
        match.matchedField == "dns.answers"
        ? ["dns.answers.data", "destination.ip", "source.ip", "related.ip"]
        : ["destination.ip", "source.ip", "dns.answers.data", "related.ip"]
      holds = { IPAddress($0)?.unmappingIPv4 == address }
    case "port":
      fields = ["destination.port", "source.port"]
      holds = { $0 == value }
    default:
      if match.matchedName != nil {
        fields = [
          "destination.domain", "source.domain", "dns.question.name", "dns.answers.data", "dns.answers.name",
          "related.hosts",
        ]
      } else if match.matchedField == "process.comm" {
        fields = ["process.name"]
      } else {
        return (value, nil)
      }
      holds = { $0 == value }
    }
    for field in fields {
      if let found = carried.first(where: { $0.field == field && holds($0.value) }) { return (found.value, field) }
    }
    return (value, nil)
  }
}

extension CEFMessage {
  /// `cs4`–`cs6`: the indicator, its list and its source, labelled.
  static func indicatorExtensions(_ alert: Alert) -> [(String, String)] {
    guard let match = alert.indicator else { return [] }
    return [
      ("cs4Label", "threatIndicator"), ("cs4", match.forSIEM),
      ("cs5Label", "threatList"), ("cs5", match.list),
      ("cs6Label", "threatSource"), ("cs6", match.source),
    ]
  }
}

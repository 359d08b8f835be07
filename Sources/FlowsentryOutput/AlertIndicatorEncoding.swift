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
  /// `matchedField` is the ECS field of this document that holds the matched value.
  mutating func ecsThreat(techniques: [String], indicator: IntelIndicatorMatch?, matchedField: String?) {
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
      if !indicator.matchedValue.isEmpty {
        raw(#""atomic":"#)
        string(indicator.matchedValue)
        raw(",")
      }
      if let matchedField {
        raw(#""field":"#)
        string(matchedField)
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
    raw(#","provider":"#)
    string(indicator.source)
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
}

extension IntelIndicatorMatch {
  /// The address of a listed host (`203.0.113.66/32`, `2001:db8::1/128`); nil for a block or another type.
  var listedHost: String? {
    guard type == "address" else { return nil }
    let parts = indicator.split(separator: "/")
    guard parts.count == 2, parts[1] == (indicator.contains(":") ? "128" : "32") else { return nil }
    return String(parts[0])
  }

  /// The indicator as ECS `threat.indicator.name` and CEF `cs4` give it: a listed host as its bare
  /// address, so that a SIEM joins it with `destination.ip` or `dst`; a block, a domain as listed.
  /// The native alert and the rule texts keep the list's own form (`/32`).
  var forSIEM: String { listedHost ?? indicator }
}

extension ECSJSON {
  /// The ECS field of the alert's document that holds the value a list matched (ECS
  /// `threat.enrichments.matched.field`), from the rule field it was read from; nil when the
  /// document has no such field. A lookup's document has the asker in `source` (``dnsFields``).
  static func matchedField(_ match: IntelIndicatorMatch, flow: FlowEvent?, dns: DNSEvent?) -> String? {
    switch match.matchedField {
    case "dns.questions": return "dns.question.name"
    case "dns.answers": return "dns.answers.data"
    case "process.comm": return "process.name"
    case "src", "dst", "local", "remote":
      if let flow {
        if "\(flow.destination.address.unmappingIPv4)" == match.matchedValue { return "destination.ip" }
        if "\(flow.source.address.unmappingIPv4)" == match.matchedValue { return "source.ip" }
      } else if let dns {
        if "\(dns.source.address.unmappingIPv4)" == match.matchedValue { return "destination.ip" }
        if "\(dns.destination.address.unmappingIPv4)" == match.matchedValue { return "source.ip" }
      }
      return nil
    case "src_dns", "dst_dns", "remote_dns":
      // The document's `domain` is the side's first name; a later one (an alias) is still that side's.
      guard let flow else { return nil }
      if flow.destinationNames.contains(match.matchedValue) { return "destination.domain" }
      if flow.sourceNames.contains(match.matchedValue) { return "source.domain" }
      return nil
    default:
      return nil
    }
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

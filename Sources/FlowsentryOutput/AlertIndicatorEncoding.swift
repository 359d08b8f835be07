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

  /// `,"threat":{…}` with the ATT&CK techniques and the indicator, when there is either.
  mutating func ecsThreat(techniques: [String], indicator: IntelIndicatorMatch?) {
    guard !techniques.isEmpty || indicator != nil else { return }
    raw(#","threat":{"#)
    if !techniques.isEmpty {
      raw(#""framework":"MITRE ATT&CK","technique":{"id":"#)
      strings(techniques)
      raw("}")
      if indicator != nil { raw(",") }
    }
    if let indicator {
      raw(#""feed":{"name":"#)
      string(indicator.list)
      raw(#"},"indicator":{"name":"#)
      string(indicator.indicator)
      raw(#","provider":"#)
      string(indicator.source)
      switch indicator.type {
      case "domain":
        raw(#","type":"domain-name","url":{"domain":"#)
        string(indicator.indicator)
        raw("}")
      case "address":
        let parts = indicator.indicator.split(separator: "/")
        let isIPv6 = indicator.indicator.contains(":")
        raw(isIPv6 ? #","type":"ipv6-addr""# : #","type":"ipv4-addr""#)
        // `threat.indicator.ip` holds one address: a listed host, not a block.
        if parts.count == 2, parts[1] == (isIPv6 ? "128" : "32") {
          raw(#","ip":"#)
          string(String(parts[0]))
        }
      case "port":
        raw(#","type":"port","port":"#)
        integer(Int(indicator.indicator) ?? 0)
      default:
        break
      }
      raw("}")
    }
    raw("}")
  }
}

extension CEFMessage {
  /// `cs4`–`cs6`: the indicator, its list and its source, labelled.
  static func indicatorExtensions(_ alert: Alert) -> [(String, String)] {
    guard let match = alert.indicator else { return [] }
    return [
      ("cs4Label", "threatIndicator"), ("cs4", match.indicator),
      ("cs5Label", "threatList"), ("cs5", match.list),
      ("cs6Label", "threatSource"), ("cs6", match.source),
    ]
  }
}

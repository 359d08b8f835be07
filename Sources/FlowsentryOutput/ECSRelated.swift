import FlowsentryCore

extension JSONBytes {
  /// `,"related":{"ip":[…],"hosts":[…]}` of an alert: ECS related.ip holds every address of the
  /// event, related.hosts every host name (a lookup's aliases and pointers among them), and ECS threat-usage asks for a matched indicator to be
  /// copied to the related.* field it fits, so that a SIEM's pivot on an address or a name finds
  /// the alert whichever side or answer held it. Each value once, in the order met.
  mutating func ecsRelated(_ alert: Alert, flow: FlowEvent?, lookup: DNSEvent?) {
    var addresses: [String] = []
    var hosts: [String] = []
    func add(_ value: String, to list: inout [String]) {
      if !value.isEmpty, !list.contains(value) { list.append(value) }
    }
    if let flow {
      add(flow.source.address.description, to: &addresses)
      add(flow.destination.address.description, to: &addresses)
      for name in flow.sourceNames + flow.destinationNames { add(name, to: &hosts) }
    } else if let lookup {
      add(lookup.destination.address.description, to: &addresses)
      add(lookup.source.address.description, to: &addresses)
      for name in lookup.questions { add(name, to: &hosts) }
      for answer in lookup.answers {
        add(answer.name, to: &hosts)
        switch answer.type {
        case "A", "AAAA":
          // ECS related.ip is an `ip` field: a recording's answer that is no address would make
          // Elasticsearch refuse the whole alert, so only a parsed address goes in, written as one.
          if let address = IPAddress(answer.data) { add(address.description, to: &addresses) }
        case "CNAME", "PTR":
          add(answer.data, to: &hosts)
        default:
          // A recording's TXT or MX data is no host name.
          break
        }
      }
    }
    if let indicator = alert.indicator {
      switch indicator.type {
      case "domain":
        add(indicator.indicator, to: &hosts)
      case "address":
        // A listed host is an address; a block is none, and its matched address is among the event's.
        if let host = indicator.listedHost { add(host, to: &addresses) }
      default:
        break
      }
    }
    guard !addresses.isEmpty || !hosts.isEmpty else { return }
    raw(#","related":{"#)
    if !addresses.isEmpty {
      raw(#""ip":"#)
      strings(addresses)
      if !hosts.isEmpty { raw(",") }
    }
    if !hosts.isEmpty {
      raw(#""hosts":"#)
      strings(hosts)
    }
    raw("}")
  }
}

import FlowsentryCore

/// ECS `related.ip` and `related.hosts` of an alert: related.ip holds every address of the event,
/// related.hosts every host name (a lookup's aliases and pointers among them), and ECS threat-usage
/// asks for a matched indicator to be copied to the related.* field it fits, so that a SIEM's pivot
/// on an address or a name finds the alert whichever side or answer held it. Each value once, in
/// the order met. Built before the document is written: `threat.enrichments.matched.field` may
/// name these arrays, and only for a value they hold.
struct ECSRelated {
  private(set) var addresses: [String] = []
  /// Each of `addresses` parsed and unmapped: an IPv4-mapped side (`::ffff:203.0.113.5`, as a
  /// dual-stack socket reports an IPv4 peer) and the listed host 203.0.113.5 are one address, and
  /// were two entries. The form kept is the first met, a side's as `source.ip` writes it.
  private var keys: [IPAddress] = []
  private(set) var hosts: [String] = []

  init(_ alert: Alert, flow: FlowEvent?, lookup: DNSEvent?) {
    if let flow {
      add(flow.source.address)
      add(flow.destination.address)
      for name in flow.sourceNames + flow.destinationNames { add(host: name) }
    } else if let lookup {
      add(lookup.destination.address)
      add(lookup.source.address)
      for name in lookup.questions { add(host: name) }
      for answer in lookup.answers {
        add(host: answer.name)
        switch answer.type {
        case "A", "AAAA":
          // ECS related.ip is an `ip` field: a recording's answer that is no address would make
          // Elasticsearch refuse the whole alert, so only a parsed address goes in, written as one.
          if let address = IPAddress(answer.data) { add(address) }
        case "CNAME", "PTR":
          add(host: answer.data)
        default:
          // A recording's TXT or MX data is no host name.
          break
        }
      }
    }
    guard let indicator = alert.indicator else { return }
    // The value that matched was seen in one of the alert's events, though perhaps not in the one
    // the document is built from (the lookup before a flow): a name of the event all the same.
    if let name = indicator.matchedName { add(host: name) }
    if let address = indicator.matchedNameFieldAddress { add(address) }
    switch indicator.type {
    case "domain":
      add(host: indicator.indicator)
    case "address":
      // A listed host is an address; a block is none, but the address it matched is one.
      if let host = indicator.listedHost, let address = IPAddress(host) { add(address) }
      if let address = IPAddress(indicator.matchedValue) { add(address) }
    default:
      break
    }
  }

  private mutating func add(_ address: IPAddress) {
    let key = address.unmappingIPv4
    guard !keys.contains(key) else { return }
    keys.append(key)
    addresses.append(address.description)
  }

  private mutating func add(host: String) {
    if !host.isEmpty, !hosts.contains(host) { hosts.append(host) }
  }

  /// How related.ip writes `address` (mapped or not, the form met first); nil when it holds none.
  func written(_ address: IPAddress) -> String? {
    keys.firstIndex(of: address.unmappingIPv4).map { addresses[$0] }
  }
}

extension JSONBytes {
  /// `,"related":{"ip":[…],"hosts":[…]}`; nothing when both are empty.
  mutating func ecsRelated(_ related: ECSRelated) {
    guard !related.addresses.isEmpty || !related.hosts.isEmpty else { return }
    raw(#","related":{"#)
    if !related.addresses.isEmpty {
      raw(#""ip":"#)
      strings(related.addresses)
      if !related.hosts.isEmpty { raw(",") }
    }
    if !related.hosts.isEmpty {
      raw(#""hosts":"#)
      strings(related.hosts)
    }
    raw("}")
  }
}

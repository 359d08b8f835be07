import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryOutput

/// The listed indicator an alert names, in the native alert, ECS and CEF.
@Suite struct AlertIndicatorEncodingTests {
  let context = EventJSON.Context(hostName: "sensor-1")

  func alert(_ indicator: IntelIndicatorMatch?, tags: [String] = []) -> Alert {
    let flow = FlowEvent(
      name: .netFlowTCPBegin, timestamp: 1_000_000_000, direction: .outgoing,
      source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("203.0.113.5")!, 443),
      destinationNames: ["www.evil.example"])
    return Alert(
      id: "0123456789abcdef", timestamp: 1_000_000_000, ruleID: "FS-INTEL-002", ruleName: "listed domain",
      severity: .high, tags: tags, message: "m", group: [], count: 1, windowNanoseconds: nil, suppressed: 0,
      events: [.flow(flow)], eventsLeftOut: 0, indicator: indicator)
  }

  static let domain = IntelIndicatorMatch(
    indicator: "evil.example", type: "domain", list: "c2_domains",
    source: "acme-feed (/etc/flowsentry/intel/a.intel:7)",
    provider: "acme-feed", file: "/etc/flowsentry/intel/a.intel", line: 7)
  static let host = IntelIndicatorMatch(
    indicator: "203.0.113.5/32", type: "address", list: "c2_addresses", source: "/etc/flowsentry/intel/f.ip.txt:3",
    provider: "/etc/flowsentry/intel/f.ip.txt", file: "/etc/flowsentry/intel/f.ip.txt", line: 3)

  func object(_ line: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
  }

  @Test func theNativeAlertCarriesTheIndicatorOnlyWhenAListDecided() throws {
    let json = try object(AlertJSON.line(for: alert(Self.domain), context: context))
    let indicator = try #require(json["indicator"] as? [String: String])
    #expect(
      indicator == [
        "value": "evil.example", "type": "domain", "list": "c2_domains",
        "source": "acme-feed (/etc/flowsentry/intel/a.intel:7)",
      ])
    #expect(try object(AlertJSON.line(for: alert(nil), context: context))["indicator"] == nil)
  }

  @Test func ecsHasThreatFeedAndIndicatorBesideTheTechniques() throws {
    var bytes: [UInt8] = []
    ECSJSON.append(alert(Self.domain, tags: ["T1071"]), context: context, to: &bytes)
    let threat = try #require(try object(String(decoding: bytes, as: UTF8.self))["threat"] as? [String: Any])
    #expect((threat["feed"] as? [String: String]) == ["name": "c2_domains"])
    let indicator = try #require(threat["indicator"] as? [String: Any])
    #expect(indicator["name"] as? String == "evil.example")
    #expect(indicator["type"] as? String == "domain-name")
    #expect((indicator["url"] as? [String: String]) == ["domain": "evil.example"])
    #expect(indicator["provider"] as? String == "acme-feed")
    #expect((threat["technique"] as? [String: [String]]) == ["id": ["T1071"]])

    bytes = []
    ECSJSON.append(alert(Self.host), context: context, to: &bytes)
    let hostThreat = try #require(try object(String(decoding: bytes, as: UTF8.self))["threat"] as? [String: Any])
    let hostIndicator = try #require(hostThreat["indicator"] as? [String: Any])
    #expect(hostIndicator["type"] as? String == "ipv4-addr")
    #expect(hostIndicator["ip"] as? String == "203.0.113.5")
    // A single listed host is named by its bare address, to join with destination.ip; the native
    // alert keeps the list's 203.0.113.5/32.
    #expect(hostIndicator["name"] as? String == "203.0.113.5")
    #expect(hostThreat["technique"] == nil)

    bytes = []
    ECSJSON.append(alert(nil), context: context, to: &bytes)
    #expect(try object(String(decoding: bytes, as: UTF8.self))["threat"] == nil)
  }

  func ecsDocument(_ alert: Alert) throws -> [String: Any] {
    var bytes: [UInt8] = []
    ECSJSON.append(alert, context: context, to: &bytes)
    return try object(String(decoding: bytes, as: UTF8.self))
  }

  func enrichment(_ document: [String: Any]) throws -> [String: Any] {
    let threat = try #require(document["threat"] as? [String: Any])
    let enrichments = try #require(threat["enrichments"] as? [[String: Any]])
    #expect(enrichments.count == 1)
    return try #require(enrichments.first)
  }

  /// ECS threat-usage, "Enriched events": an event a listed indicator matched carries the match in
  /// `threat.enrichments[]`, with the event's value that matched and the field it is in.
  @Test func ecsHasTheMatchInThreatEnrichmentsWithWhatMatchedAndWhere() throws {
    var domain = Self.domain
    domain.matchedValue = "www.evil.example"
    domain.matchedField = "remote_dns"
    let document = try ecsDocument(alert(domain))
    let found = try enrichment(document)
    #expect(
      (found["matched"] as? [String: String])
        == ["atomic": "www.evil.example", "field": "destination.domain", "type": "indicator_match_rule"])
    #expect((found["feed"] as? [String: String]) == ["name": "c2_domains"])
    let indicator = try #require(found["indicator"] as? [String: Any])
    #expect(indicator["name"] as? String == "evil.example")
    #expect(indicator["type"] as? String == "domain-name")
    #expect(indicator["provider"] as? String == "acme-feed")
    // threat.indicator and threat.feed stay, for the consumers issue #18 gave them to.
    let threat = try #require(document["threat"] as? [String: Any])
    #expect((threat["indicator"] as? [String: Any])?["name"] as? String == "evil.example")

    var host = Self.host
    host.matchedValue = "203.0.113.5"
    host.matchedField = "remote"
    let hostEnrichment = try enrichment(try ecsDocument(alert(host)))
    #expect(
      (hostEnrichment["matched"] as? [String: String])
        == ["atomic": "203.0.113.5", "field": "destination.ip", "type": "indicator_match_rule"])
    #expect((hostEnrichment["indicator"] as? [String: Any])?["type"] as? String == "ipv4-addr")
  }

  /// A lookup whose alias is under a listed domain: the alias is what matched, in `dns.answers`.
  @Test func ecsNamesTheLookupsAliasAsTheMatchedAnswer() throws {
    var lookup = DNSEvent(
      timestamp: 1_000_000_000, source: Endpoint(IPAddress("10.0.0.53")!, 53),
      destination: Endpoint(IPAddress("10.0.0.5")!, 40_000), transport: .udp, cgroupID: 0, id: 7, responseCode: 0,
      questions: ["www.example"],
      answers: [
        .init(name: "www.example", type: "CNAME", timeToLive: 60, data: "cdn.evil.example"),
        .init(name: "cdn.evil.example", type: "A", timeToLive: 60, data: "203.0.113.9"),
      ], truncated: false)
    lookup.answered = true
    var match = Self.domain
    match.matchedValue = "cdn.evil.example"
    match.matchedField = "dns.answers"
    var lookupAlert = alert(match)
    lookupAlert.events = [.dns(lookup)]
    let document = try ecsDocument(lookupAlert)
    #expect(
      (try enrichment(document)["matched"] as? [String: String])
        == ["atomic": "cdn.evil.example", "field": "dns.answers.data", "type": "indicator_match_rule"])
    let answers = try #require((document["dns"] as? [String: Any])?["answers"] as? [[String: Any]])
    #expect(answers.map { $0["data"] as? String } == ["cdn.evil.example", "203.0.113.9"])
    #expect(answers.first?["type"] as? String == "CNAME")
    #expect(answers.first?["ttl"] as? Int == 60)
  }

  @Test func cefCarriesIndicatorListAndSourceInLabelledCustomStrings() throws {
    let line = CEFMessage.line(for: alert(Self.domain), context: context)
    #expect(line.contains(" cs4Label=threatIndicator cs4=evil.example cs5Label=threatList cs5=c2_domains"))
    #expect(line.contains(" cs6Label=threatSource cs6=acme-feed (/etc/flowsentry/intel/a.intel:7)"))
    #expect(!CEFMessage.line(for: alert(nil), context: context).contains("cs4"))
    // A single listed host as its bare address, to join cs4 with dst; a block as listed.
    #expect(CEFMessage.line(for: alert(Self.host), context: context).contains(" cs4=203.0.113.5 "))
    var block = Self.host
    block.indicator = "203.0.113.0/24"
    #expect(CEFMessage.line(for: alert(block), context: context).contains(" cs4=203.0.113.0/24 "))
    var v6 = Self.host
    v6.indicator = "2001:db8::1/128"
    #expect(CEFMessage.line(for: alert(v6), context: context).contains(" cs4=2001:db8::1 "))
    let native = try object(AlertJSON.line(for: alert(Self.host), context: context))
    #expect((native["indicator"] as? [String: String])?["value"] == "203.0.113.5/32")
  }

  /// deviceCustomString1–6 take 4,000 characters (the CEF extension dictionary); cs4–cs6 were cut at 1,023.
  @Test func cefCustomStringsKeepFourThousandCharacters() {
    var long = Self.domain
    long.source = String(repeating: "s", count: 5000)
    long.list = String(repeating: "l", count: 3000)
    let line = CEFMessage.line(for: alert(long), context: context)
    #expect(line.contains("cs5=" + String(repeating: "l", count: 3000) + " "))
    #expect(line.hasSuffix("cs6=" + String(repeating: "s", count: 4000)))
  }

  /// ECS related.ip holds every address of the event and related.hosts its names; threat-usage asks
  /// for the indicator to be copied there too. Each once.
  @Test func ecsRelatedHoldsTheEventsAddressesAndNamesAndTheIndicator() throws {
    let domain = try ecsDocument(alert(Self.domain))
    let related = try #require(domain["related"] as? [String: [String]])
    #expect(related["ip"] == ["198.51.100.2", "203.0.113.5"])
    #expect(related["hosts"] == ["www.evil.example", "evil.example"])
    let host = try #require(try ecsDocument(alert(Self.host))["related"] as? [String: [String]])
    #expect(host["ip"] == ["198.51.100.2", "203.0.113.5"])

    let lookup = DNSEvent(
      timestamp: 1_000_000_000, source: Endpoint(IPAddress("10.0.0.53")!, 53),
      destination: Endpoint(IPAddress("10.0.0.5")!, 40_000), transport: .udp, cgroupID: 0, id: 7, responseCode: 0,
      questions: ["www.example"],
      answers: [
        .init(name: "www.example", type: "CNAME", timeToLive: 60, data: "cdn.evil.example"),
        .init(name: "cdn.evil.example", type: "A", timeToLive: 60, data: "203.0.113.9"),
      ], truncated: false)
    var lookupAlert = alert(Self.domain)
    lookupAlert.events = [.dns(lookup)]
    let fromLookup = try #require(try ecsDocument(lookupAlert)["related"] as? [String: [String]])
    #expect(fromLookup["ip"] == ["10.0.0.5", "10.0.0.53", "203.0.113.9"])
    #expect(fromLookup["hosts"] == ["www.example", "cdn.evil.example", "evil.example"])

    // A recording may carry answers capture never makes: an A record that is no address (an `ip`
    // field Elasticsearch would refuse the alert for), and TXT or MX data, which name no host.
    var odd = lookup
    odd.answers = [
      .init(name: "www.example", type: "A", timeToLive: 60, data: "not-an-address"),
      .init(name: "www.example", type: "AAAA", timeToLive: 60, data: "2001:DB8:0:0::9"),
      .init(name: "www.example", type: "TXT", timeToLive: 60, data: "v=spf1 -all"),
      .init(name: "www.example", type: "MX", timeToLive: 60, data: "10 mx.example"),
      .init(name: "9.0.0.10.in-addr.arpa", type: "PTR", timeToLive: 60, data: "host.example"),
    ]
    lookupAlert.events = [.dns(odd)]
    let fromOdd = try #require(try ecsDocument(lookupAlert)["related"] as? [String: [String]])
    #expect(fromOdd["ip"] == ["10.0.0.5", "10.0.0.53", "2001:db8::9"])
    #expect(fromOdd["hosts"] == ["www.example", "9.0.0.10.in-addr.arpa", "host.example", "evil.example"])
  }

  /// ECS threat.indicator.provider is who published the indicator: it held the feed's `file:line`
  /// (or `meta.source (file:line)`), so a SIEM grouping by provider got one bucket per line. Now
  /// the Zeek meta.source, or for a feed without one its file, the same for each of its lines; the
  /// position is under flowsentry.alert.indicator, the combined text too.
  @Test func ecsProviderIsTheFeedAndThePositionIsKeptApart() throws {
    for (match, provider) in [(Self.domain, "acme-feed"), (Self.host, "/etc/flowsentry/intel/f.ip.txt")] {
      var otherLine = match
      otherLine.line = 900
      otherLine.source = match.source.replacingOccurrences(of: ":\(match.line)", with: ":900")
      var providers: Set<String> = []
      for each in [match, otherLine] {
        let document = try ecsDocument(alert(each))
        let threat = try #require(document["threat"] as? [String: Any])
        let indicator = try #require(threat["indicator"] as? [String: Any])
        let enriched = try #require(try enrichment(document)["indicator"] as? [String: Any])
        #expect(indicator["provider"] as? String == provider)
        #expect(enriched["provider"] as? String == provider)
        providers.insert(try #require(indicator["provider"] as? String))
        let native = try #require((document["flowsentry"] as? [String: Any])?["alert"] as? [String: Any])
        let position = try #require(native["indicator"] as? [String: Any])
        #expect(position["source"] as? String == each.source)
        #expect(position["file"] as? String == each.file)
        #expect(position["line"] as? Int == each.line)
      }
      #expect(providers.count == 1)
    }
    // The native alert and CEF keep the combined text.
    let native = try object(AlertJSON.line(for: alert(Self.domain), context: context))
    #expect((native["indicator"] as? [String: String])?["source"] == "acme-feed (/etc/flowsentry/intel/a.intel:7)")
    #expect(
      CEFMessage.line(for: alert(Self.domain), context: context)
        .contains("cs6=acme-feed (/etc/flowsentry/intel/a.intel:7)"))
    // A match that knows no provider or position (a caller of the old initializer) writes neither.
    let bare = IntelIndicatorMatch(indicator: "evil.example", type: "domain", list: "l", source: "s")
    let document = try ecsDocument(alert(bare))
    #expect((document["threat"] as? [String: Any]).flatMap { $0["indicator"] as? [String: Any] }?["provider"] == nil)
    let position = (document["flowsentry"] as? [String: Any]).flatMap { $0["alert"] as? [String: Any] }?["indicator"]
    #expect((position as? [String: String]) == ["source": "s"])
  }
}

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
    indicator: "evil.example", type: "domain", list: "c2_domains", source: "acme-feed (/etc/flowsentry/intel/a.intel:7)"
  )
  static let host = IntelIndicatorMatch(
    indicator: "203.0.113.5/32", type: "address", list: "c2_addresses", source: "/etc/flowsentry/intel/f.ip.txt:3")

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
    #expect(indicator["provider"] as? String == "acme-feed (/etc/flowsentry/intel/a.intel:7)")
    #expect((threat["technique"] as? [String: [String]]) == ["id": ["T1071"]])

    bytes = []
    ECSJSON.append(alert(Self.host), context: context, to: &bytes)
    let hostThreat = try #require(try object(String(decoding: bytes, as: UTF8.self))["threat"] as? [String: Any])
    let hostIndicator = try #require(hostThreat["indicator"] as? [String: Any])
    #expect(hostIndicator["type"] as? String == "ipv4-addr")
    #expect(hostIndicator["ip"] as? String == "203.0.113.5")
    #expect(hostThreat["technique"] == nil)

    bytes = []
    ECSJSON.append(alert(nil), context: context, to: &bytes)
    #expect(try object(String(decoding: bytes, as: UTF8.self))["threat"] == nil)
  }

  @Test func cefCarriesIndicatorListAndSourceInLabelledCustomStrings() {
    let line = CEFMessage.line(for: alert(Self.domain), context: context)
    #expect(line.contains(" cs4Label=threatIndicator cs4=evil.example cs5Label=threatList cs5=c2_domains"))
    #expect(line.contains(" cs6Label=threatSource cs6=acme-feed (/etc/flowsentry/intel/a.intel:7)"))
    #expect(!CEFMessage.line(for: alert(nil), context: context).contains("cs4"))
  }
}

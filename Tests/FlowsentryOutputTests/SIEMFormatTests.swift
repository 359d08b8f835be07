import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryOutput

/// ECS and CEF, field by field, escaping included.
@Suite struct SIEMFormatTests {
  let context = EventJSON.Context(hostName: "sensor-1")

  var flow: FlowEvent {
    FlowEvent(
      name: .netFlowTCPBegin, timestamp: 1_700_000_000_123_456_789, direction: .outgoing,
      source: Endpoint(IPAddress("128.232.110.120")!, 34855), destination: Endpoint(IPAddress("66.35.250.204")!, 80),
      destinationNames: ["c2.example.test", "cdn.example.test"],
      process: ProcessIdentity(pid: 4242, uid: 1000, command: "cu|rl=x"))
  }

  func alert(message: String = "beacon to c2.example.test") -> Alert {
    Alert(
      id: "0123456789abcdef", timestamp: 1_700_000_000_223_456_789, ruleID: "FS-NET-006",
      ruleName: "Outbound | beacon \\ pipe", severity: .high, tags: ["T1071.004", "T1046", "network", "TX1234"],
      message: message, group: [(field: "remote", value: "66.35.250.204")], count: 3, windowNanoseconds: 60_000_000_000,
      suppressed: 2, events: [.flow(flow)], eventsLeftOut: 0, ruleDescription: "Beacons to a known C2.\n",
      ruleReferences: ["https://attack.mitre.org/techniques/T1071/004/", "https://example.test/r"])
  }

  func object(_ bytes: [UInt8]) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
  }

  @Test func ecsAlertHasTheSchemaFields() throws {
    var bytes: [UInt8] = []
    ECSJSON.append(alert(), context: context, to: &bytes)
    let document = try object(bytes)
    #expect(document["@timestamp"] as? String == "2023-11-14T22:13:20.223456789Z")
    #expect((document["ecs"] as? [String: Any])?["version"] as? String == "9.0.0")
    let event = try #require(document["event"] as? [String: Any])
    #expect(event["kind"] as? String == "alert")
    #expect(event["category"] as? [String] == ["network", "intrusion_detection"])
    #expect(event["type"] as? [String] == ["info"])
    #expect(event["severity"] as? Int == 73)
    #expect(event["id"] as? String == "0123456789abcdef")
    #expect(document["message"] as? String == "beacon to c2.example.test")
    let rule = try #require(document["rule"] as? [String: Any])
    #expect(rule["id"] as? String == "FS-NET-006")
    #expect(rule["name"] as? String == "Outbound | beacon \\ pipe")
    #expect(rule["description"] as? String == "Beacons to a known C2.")
    // ECS rule.reference is a URL: one per element, not two joined by a space.
    #expect(
      rule["reference"] as? [String] == ["https://attack.mitre.org/techniques/T1071/004/", "https://example.test/r"])
    #expect(rule["ruleset"] as? String == "flowsentry")
    let threat = try #require(document["threat"] as? [String: Any])
    #expect(threat["framework"] as? String == "MITRE ATT&CK")
    // ECS: technique.id the techniques (a sub-technique's parent), subtechnique.id the full ids.
    let technique = try #require(threat["technique"] as? [String: Any])
    #expect(technique["id"] as? [String] == ["T1071", "T1046"])
    #expect((technique["subtechnique"] as? [String: Any])?["id"] as? [String] == ["T1071.004"])
    let source = try #require(document["source"] as? [String: Any])
    #expect(source["ip"] as? String == "128.232.110.120")
    #expect(source["port"] as? Int == 34855)
    #expect(source["domain"] == nil)
    let destination = try #require(document["destination"] as? [String: Any])
    #expect(destination["ip"] as? String == "66.35.250.204")
    #expect(destination["port"] as? Int == 80)
    #expect(destination["domain"] as? String == "c2.example.test")
    let network = try #require(document["network"] as? [String: Any])
    #expect(network["transport"] as? String == "tcp")
    #expect(network["type"] as? String == "ipv4")
    #expect(network["direction"] as? String == "egress")
    #expect(network["community_id"] as? String == "1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
    #expect((document["host"] as? [String: Any])?["name"] as? String == "sensor-1")
    let process = try #require(document["process"] as? [String: Any])
    #expect(process["pid"] as? Int == 4242)
    #expect(process["name"] as? String == "cu|rl=x")
    #expect((document["user"] as? [String: Any])?["id"] as? String == "1000")
    let native = try #require(document["flowsentry"] as? [String: Any])
    #expect(((native["alert"] as? [String: Any])?["group"] as? [String: String]) == ["remote": "66.35.250.204"])
    let events = try #require(native["events"] as? [[String: Any]])
    #expect(events.first?["event"] as? String == "net_flow_tcp_begin")
  }

  @Test func ecsFlowEventsAreNetworkConnections() throws {
    var end = flow
    end.name = .netFlowTCPEnd
    end.closeReason = .rst
    end.terminatedBy = .remote
    end.direction = .incoming
    var bytes: [UInt8] = []
    ECSJSON.append(.flow(end), context: context, to: &bytes)
    let document = try object(bytes)
    let event = try #require(document["event"] as? [String: Any])
    #expect(event["kind"] as? String == "event")
    #expect(event["type"] as? [String] == ["connection", "end"])
    #expect(event["action"] as? String == "net_flow_tcp_end")
    #expect((document["network"] as? [String: Any])?["direction"] as? String == "ingress")
    #expect(
      ((document["flowsentry"] as? [String: Any])?["event"] as? [String: Any])?["event"] as? String
        == "net_flow_tcp_end")
  }

  @Test func ecsDNSEventsSayWhetherTheyAreAnAnswerOrAQuestionNobodyAnswered() throws {
    var lookup = DNSEvent(
      timestamp: 1_700_000_000_000_000_000, source: Endpoint(IPAddress("192.0.2.53")!, 53),
      destination: Endpoint(IPAddress("198.51.100.2")!, 40_000), transport: .udp, cgroupID: 0, id: 7, responseCode: 0,
      questions: ["c2.example.test"],
      answers: [.init(name: "c2.example.test", type: "A", timeToLive: 60, data: "203.0.113.9")],
      truncated: false)
    for answered in [true, false] {
      lookup.answered = answered
      if !answered { lookup.answers = [] }
      var bytes: [UInt8] = []
      ECSJSON.append(.dns(lookup), context: context, to: &bytes)
      let document = try object(bytes)
      let dns = try #require(document["dns"] as? [String: Any])
      #expect(dns["type"] as? String == (answered ? "answer" : "query"))
      #expect((dns["question"] as? [String: Any])?["name"] as? String == "c2.example.test")
      #expect(dns["resolved_ip"] as? [String] == (answered ? ["203.0.113.9"] : []))
      let native = try #require((document["flowsentry"] as? [String: Any])?["event"] as? [String: Any])
      #expect((native["args"] as? [String: Any])?["answered"] as? Bool == answered)
    }
  }

  /// A lookup's alert (no flow event: FS-INTEL-002 on a question, FS-DNS-003) carries the asking
  /// socket and the question in ECS and CEF, as the lookup's own event does; before, only `msg`
  /// and the embedded events said them. A DNS event reads as its answer packet (src the resolver,
  /// dst the asker, answered or not: EVENTS.md), and `source`/`client`/`src` must be the asker, the
  /// host to investigate (they were the resolver).
  @Test(arguments: [true, false])
  func aLookupsAlertAndEventHaveTheAskerAsSource(answered: Bool) throws {
    var lookup = DNSEvent(
      timestamp: 1_700_000_000_000_000_000, source: Endpoint(IPAddress("192.0.2.53")!, 53),
      destination: Endpoint(IPAddress("198.51.100.2")!, 40_000), transport: .udp, cgroupID: 0, id: 7, responseCode: 0,
      questions: ["c2.example.test"], answers: [], truncated: false)
    lookup.answered = answered
    var alert = self.alert(message: "lookup of c2.example.test")
    alert.events = [.dns(lookup)]
    var alertBytes: [UInt8] = []
    ECSJSON.append(alert, context: context, to: &alertBytes)
    var eventBytes: [UInt8] = []
    ECSJSON.append(.dns(lookup), context: context, to: &eventBytes)
    for document in [try object(alertBytes), try object(eventBytes)] {
      for key in ["source", "client"] {
        #expect((document[key] as? [String: Any])?["ip"] as? String == "198.51.100.2", "\(key)")
        #expect((document[key] as? [String: Any])?["port"] as? Int == 40_000, "\(key)")
      }
      for key in ["destination", "server"] {
        #expect((document[key] as? [String: Any])?["ip"] as? String == "192.0.2.53", "\(key)")
        #expect((document[key] as? [String: Any])?["port"] as? Int == 53, "\(key)")
      }
      #expect((document["network"] as? [String: Any])?["protocol"] as? String == "dns")
      let dns = try #require(document["dns"] as? [String: Any])
      #expect((dns["question"] as? [String: Any])?["name"] as? String == "c2.example.test")
      #expect((document["host"] as? [String: Any])?["name"] as? String == "sensor-1")
    }
    #expect(((try object(alertBytes))["event"] as? [String: Any])?["kind"] as? String == "alert")

    for line in [CEFMessage.line(for: alert, context: context), CEFMessage.line(for: .dns(lookup), context: context)] {
      for field in [
        "src=198.51.100.2", "spt=40000", "dst=192.0.2.53", "dpt=53", "proto=UDP",
        "cs2Label=dnsQuery cs2=c2.example.test",
      ] {
        #expect(line.contains(" \(field)"), "\(field) in \(line)")
      }
      // CEF's request is requestUrl, a URL: a name asked is none.
      #expect(!line.contains("request="))
    }
  }

  @Test func cefHeaderAndExtensionsAreEscaped() throws {
    let line = CEFMessage.line(
      for: alert(message: "line1\nline2\r= back\\slash | pipe"), context: context)
    #expect(
      line.hasPrefix(
        #"CEF:0|flowsentry|flowsentry|\#(FlowsentryVersion.current)|FS-NET-006|Outbound \| beacon \\ pipe|8|"#))
    let extensions = String(line.split(separator: "|", maxSplits: 7, omittingEmptySubsequences: false)[7])
    #expect(extensions.contains(#"msg=line1\nline2\r\= back\\slash | pipe "#))
    #expect(extensions.contains("rt=1700000000223 "))
    #expect(extensions.contains("externalId=0123456789abcdef "))
    #expect(extensions.contains("src=128.232.110.120 spt=34855 dst=66.35.250.204 dpt=80 proto=TCP deviceDirection=1 "))
    #expect(extensions.contains("cs1Label=communityId cs1=1:LQU9qZlK+B5F3KDmev6m5PMibrg\\= "))
    #expect(extensions.contains("dhost=c2.example.test "))
    #expect(extensions.contains(#"sproc=cu|rl\=x spid=4242 suid=1000"#))
    #expect(extensions.contains("dvchost=sensor-1"))
    #expect(!line.contains("\n") && !line.contains("\r"))
  }

  @Test(arguments: [(Severity.critical, 10), (.high, 8), (.medium, 5), (.low, 3), (.info, 1)])
  func cefSeverityIsZeroToTen(_ severity: Severity, _ expected: Int) {
    var alert = alert()
    alert.severity = severity
    alert.ruleName = "no pipes here"
    #expect(CEFMessage.line(for: alert, context: context).split(separator: "|")[6] == Substring(String(expected)))
  }

  @Test func cefFieldsAreCutToTheSpecificationsLengths() {
    let long = String(repeating: "é", count: 2000)
    var alert = alert(message: long)
    alert.id = String(repeating: "a", count: 100)
    alert.ruleName = String(repeating: "n", count: 600) + "|"
    let line = CEFMessage.line(for: alert, context: EventJSON.Context(hostName: String(repeating: "h", count: 200)))
    let header = line.split(separator: "|", maxSplits: 7, omittingEmptySubsequences: false)
    #expect(header[5].count == 512)
    #expect(line.contains("msg=" + String(repeating: "é", count: 1023) + " "))
    #expect(line.contains("externalId=" + String(repeating: "a", count: 40) + " "))
    #expect(line.contains("dvchost=" + String(repeating: "h", count: 100)))
    #expect(!line.contains(String(repeating: "h", count: 101)))
  }

  /// CEF has no escape for control characters: ESC, SOH, DEL, VT, FF, NEL and the Unicode line and
  /// paragraph separators from a hostile feed's name or a Zeek meta.source reached the line raw
  /// (`ESC[2J` cleared the terminal of whoever read it). Each becomes U+FFFD, header and extensions.
  @Test func cefControlCharactersBecomeReplacementCharacters() {
    let hostile = "a\u{1B}[2Jb\u{01}c\u{7F}d\u{0B}e\u{0C}f\u{85}g\u{2028}h\u{2029}i\u{00}j\tk"
    let expected = "a\u{FFFD}[2Jb\u{FFFD}c\u{FFFD}d\u{FFFD}e\u{FFFD}f\u{FFFD}g\u{FFFD}h\u{FFFD}i\u{FFFD}j\u{FFFD}k"
    var alert = alert(message: hostile)
    alert.ruleName = hostile
    alert.indicator = IntelIndicatorMatch(indicator: "evil.example", type: "domain", list: "l", source: hostile)
    let line = CEFMessage.line(for: alert, context: context)
    #expect(line.split(separator: "|", maxSplits: 7, omittingEmptySubsequences: false)[5] == Substring(expected))
    #expect(line.contains("msg=\(expected) "))
    #expect(line.hasSuffix("cs6=\(expected)"))
    #expect(
      !line.unicodeScalars.contains {
        $0.properties.generalCategory == .control || $0 == "\u{2028}" || $0 == "\u{2029}"
      })
    // What the format escapes stays escaped, and line breaks in the header stay spaces.
    #expect(CEFMessage.escapeExtension("x=\ny", limit: 10) == "x\\=\\ny")
    #expect(CEFMessage.escapeHeader("a\nb\u{1B}", limit: 10) == "a b\u{FFFD}")
  }

  @Test func headerLineBreaksBecomeSpaces() {
    #expect(CEFMessage.escapeHeader("a\nb\r\nc", limit: 100) == "a b c")
  }

  @Test func theNativeAlertCarriesTheCommunityIDItsEventsShare() throws {
    var bytes: [UInt8] = []
    AlertJSON.append(alert(), context: context, to: &bytes)
    #expect(try object(bytes)["community_id"] as? String == "1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
    var spread = alert()
    var other = flow
    other.source = Endpoint(IPAddress("128.232.110.121")!, 34855)
    spread.events.append(.flow(other))
    bytes = []
    AlertJSON.append(spread, context: context, to: &bytes)
    #expect(try object(bytes)["community_id"] is NSNull)
  }
}

import FlowsentryCore
import FlowsentryOutput
import Foundation
import Testing

@testable import FlowsentryForwarding

/// RFC 5424 field by field (section 6), RFC 6587 framing, and the `--output` short form.
@Suite struct SyslogMessageTests {
  let syslog = SyslogMessage(facility: 20, hostName: "sensor 1\u{e9}", processID: 77)

  func alert(severity: Severity = .critical, ruleID: String = "FS-NET-001") -> Alert {
    Alert(
      id: #"id"with]back\slash"#, timestamp: 1_700_000_000_123_456_789, ruleID: ruleID, ruleName: "n",
      severity: severity, tags: [], message: "m", group: [], count: 1, windowNanoseconds: nil, suppressed: 0,
      events: [], eventsLeftOut: 0)
  }

  @Test func headerFieldsFollowTheGrammar() {
    let message = String(decoding: syslog.message(for: alert(), body: Array("{}".utf8)), as: UTF8.self)
    // <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP MSG
    let fields = message.split(separator: " ", maxSplits: 6).map(String.init)
    #expect(fields[0] == "<162>1")  // local4 (20) * 8 + critical (2)
    #expect(fields[1] == "2023-11-14T22:13:20.123456Z")  // at most six fractional digits
    #expect(fields[2] == "sensor_1_")  // PRINTUSASCII only
    #expect(fields[3] == "flowsentry")
    #expect(fields[4] == "77")
    #expect(fields[5] == "FS-NET-001")
    #expect(
      fields[6] == #"[flowsentry@32473 alert_id="id\"with\]back\\slash" rule_id="FS-NET-001" severity="critical"] {}"#)
  }

  @Test(arguments: [(Severity.critical, 2), (.high, 3), (.medium, 4), (.low, 5), (.info, 6)])
  func severityMapsToSyslogSeverity(_ severity: Severity, _ expected: Int) {
    let message = String(decoding: syslog.message(for: alert(severity: severity), body: []), as: UTF8.self)
    #expect(message.hasPrefix("<\(20 * 8 + expected)>1 "))
  }

  @Test func messageIDIsBoundedAndPrintable() {
    let long = String(repeating: "R", count: 40) + " é"
    let message = String(decoding: syslog.message(for: alert(ruleID: long), body: []), as: UTF8.self)
    #expect(message.split(separator: " ")[5] == Substring(String(repeating: "R", count: 32)))
    let empty = String(decoding: syslog.message(for: alert(ruleID: ""), body: []), as: UTF8.self)
    #expect(empty.split(separator: " ")[5] == "-")
  }

  @Test func eventsCarryTheirNameAsMessageID() throws {
    let event = SensorEvent.flow(
      FlowEvent(
        name: .netFlowTCPEnd, timestamp: 1_000, direction: .incoming, source: Endpoint(.v4(1), 1),
        destination: Endpoint(.v4(2), 2)))
    let message = String(decoding: syslog.message(for: event, body: Array("{}".utf8)), as: UTF8.self)
    #expect(message.hasPrefix("<166>1 1970-01-01T00:00:00.000001Z sensor_1_ flowsentry 77 net_flow_tcp_end "))
    #expect(message.hasSuffix(#"[flowsentry@32473 event="net_flow_tcp_end"] {}"#))
  }

  @Test func octetCountingCountsBytesNotCharacters() {
    let framed = SyslogMessage.octetCounted(Array("☃\n".utf8))
    #expect(framed == Array("4 ☃\n".utf8))
  }

  @Test func theShortFormSetsWhatItSays() throws {
    let tls = try OutputSpecification.parse(
      "syslog+tls://[::1]:6515?name=siem&events=flows&facility=local3&ca=/c.pem&cert=/x.pem&key=/k.pem&server_name=siem.test&batch=10&queue=100&spool_max_bytes=1048576&drain_timeout_ms=0"
    )
    #expect(tls.kind == .syslogTLS)
    #expect(tls.host == "::1")
    #expect(tls.port == 6515)
    #expect(tls.name == "siem")
    #expect(tls.events == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(tls.facility == 19)
    #expect(tls.tls.caFile == "/c.pem")
    #expect(tls.tls.certificateFile == "/x.pem")
    #expect(tls.tls.keyFile == "/k.pem")
    #expect(tls.tls.serverName == "siem.test")
    #expect(tls.batchRecords == 10)
    #expect(tls.queueCapacity == 100)
    #expect(tls.spool.maximumBytes == 1_048_576)
    #expect(tls.drainTimeoutMilliseconds == 0)
    #expect(tls.address == "syslog+tls://[::1]:6515")

    let defaults = try OutputSpecification.parse("syslog+udp://collector.example")
    #expect(defaults.port == 514)
    #expect(defaults.events.isEmpty)
    #expect(defaults.name == "syslog-udp-collector.example-514")
    #expect(defaults.drainTimeoutMilliseconds == 5_000)
    #expect(try OutputSpecification.parse("syslog+tls://h").port == 6514)
  }

  @Test(arguments: [
    ("syslog+tcp//h", "expected SCHEME://"),
    ("kafka://h:1", "unknown output 'kafka'"),
    ("file://relative/x", "absolute file path"),
    ("syslog+tcp://h?keep=3", "apply to file:// only"),
    ("syslog+tcp://:514", "no host"),
    ("syslog+tcp://h:0", "not 1 to 65535"),
    ("syslog+tcp://h:99999", "not 1 to 65535"),
    ("syslog+tcp://[::1:514", "closing ']'"),
    ("syslog+tcp://h?format=xml", "unknown format 'xml'"),
    ("syslog+tcp://h?drain_timeout_ms=-1", "drain_timeout_ms takes 0 to 3600000"),
    ("syslog+tcp://h?facility=local9", "unknown facility"),
    ("syslog+tcp://h?events=bogus", "unknown event or set 'bogus'"),
    ("syslog+tcp://h?ca=/c.pem", "apply to syslog+tls and https only"),
    ("syslog+tls://h?cert=/c.pem", "needs both cert and key"),
    ("syslog+tls://h?tls_verify=maybe", "true or false"),
    ("syslog+tcp://h?batch=0", "batch takes 1 to"),
    ("syslog+tcp://h?name=../x", "name takes"),
    ("syslog+tcp://h?colour=red", "unknown key 'colour'"),
    ("syslog+tcp://h?flag", "not KEY=VALUE"),
  ])
  func badSpecificationsSayWhatIsWrong(_ text: String, _ expected: String) {
    do {
      _ = try OutputSpecification.parse(text)
      Issue.record("\(text) was accepted")
    } catch {
      #expect(error.description.contains(expected), "\(error.description)")
      #expect(error.description.hasPrefix("--output \(text): "))
    }
  }
}

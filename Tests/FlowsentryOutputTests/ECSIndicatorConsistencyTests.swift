import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryOutput

/// An ECS alert's `threat.enrichments.matched` agrees with the rest of its document: the field it
/// names holds the atomic value, in the same form, and a side's one `domain` is the name that matched.
@Suite struct ECSIndicatorConsistencyTests {
  let context = EventJSON.Context(hostName: "sensor-1")

  static let listedDomain = IntelIndicatorMatch(
    indicator: "evil.example", type: "domain", list: "c2_domains", source: "f:1", provider: "f", file: "f", line: 1)

  func flow(_ source: String = "198.51.100.2", _ destination: String = "203.0.113.5", names: [String] = [])
    -> FlowEvent
  {
    FlowEvent(
      name: .netFlowTCPBegin, timestamp: 1_000_000_000, direction: .outgoing,
      source: Endpoint(IPAddress(source)!, 40_000), destination: Endpoint(IPAddress(destination)!, 443),
      destinationNames: names)
  }

  func lookup(questions: [String], answers: [DNSEvent.Answer] = []) -> DNSEvent {
    var lookup = DNSEvent(
      timestamp: 1_000_000_000, source: Endpoint(IPAddress("10.0.0.53")!, 53),
      destination: Endpoint(IPAddress("10.0.0.5")!, 40_000), transport: .udp, cgroupID: 0, id: 7, responseCode: 0,
      questions: questions, answers: answers, truncated: false)
    lookup.answered = true
    return lookup
  }

  func alert(_ events: [SensorEvent], _ match: IntelIndicatorMatch) -> Alert {
    Alert(
      id: "0123456789abcdef", timestamp: 1_000_000_000, ruleID: "FS-INTEL-002", ruleName: "listed", severity: .high,
      tags: [], message: "m", group: [], count: 1, windowNanoseconds: nil, suppressed: 0, events: events,
      eventsLeftOut: 0, indicator: match)
  }

  func match(_ value: String, in field: String, _ base: IntelIndicatorMatch = listedDomain) -> IntelIndicatorMatch {
    var match = base
    match.matchedValue = value
    match.matchedField = field
    return match
  }

  func document(_ alert: Alert) throws -> [String: Any] {
    var bytes: [UInt8] = []
    ECSJSON.append(alert, context: context, to: &bytes)
    return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
  }

  func matched(_ document: [String: Any]) throws -> [String: String] {
    let enrichments = try #require((document["threat"] as? [String: Any])?["enrichments"] as? [[String: Any]])
    return try #require(enrichments.first?["matched"] as? [String: String])
  }

  /// The values at a dotted path, through objects and arrays (`dns.answers.data` is each answer's).
  func values(_ path: String, in value: Any) -> [String] {
    let keys = path.split(separator: ".").map(String.init)
    var current: [Any] = [value]
    for key in keys {
      current = current.flatMap { item -> [Any] in
        let objects = (item as? [Any]) ?? [item]
        return objects.compactMap { ($0 as? [String: Any])?[key] }
      }
    }
    return current.flatMap { item -> [String] in
      if let list = item as? [Any] { return list.map { "\($0)" } }
      return ["\(item)"]
    }
  }

  /// The finding's invariant: a named field exists and holds the atomic value.
  func expectFieldHoldsAtomic(_ document: [String: Any], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let matched = try matched(document)
    guard let field = matched["field"] else { return }
    let atomic = try #require(matched["atomic"], sourceLocation: sourceLocation)
    #expect(values(field, in: document).contains(atomic), "\(field) lacks \(atomic)", sourceLocation: sourceLocation)
  }

  /// ECS destination.domain is one keyword (no array normalization): it held the side's first name
  /// while matched.field named it for an alias that matched. The alias now takes that place, in
  /// CEF's dhost too; every name stays in related.hosts, and events keep the first name.
  @Test func aSidesDomainIsTheNameThatMatched() throws {
    let names = ["www.example", "cdn.evil.example"]
    let raised = alert([.flow(flow(names: names))], match("cdn.evil.example", in: "remote_dns"))
    let flowAlert = try document(raised)
    #expect((flowAlert["destination"] as? [String: Any])?["domain"] as? String == "cdn.evil.example")
    #expect(
      try matched(flowAlert) == [
        "atomic": "cdn.evil.example", "field": "destination.domain", "type": "indicator_match_rule",
      ])
    #expect(
      (flowAlert["related"] as? [String: [String]])?["hosts"] == ["www.example", "cdn.evil.example", "evil.example"])
    try expectFieldHoldsAtomic(flowAlert)
    #expect(CEFMessage.line(for: raised, context: context).contains(" dhost=cdn.evil.example"))

    var bytes: [UInt8] = []
    ECSJSON.append(.flow(flow(names: names)), context: context, to: &bytes)
    let event = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    #expect((event["destination"] as? [String: Any])?["domain"] as? String == "www.example")
  }

  /// matched.field named dns.question.name for any question, though it holds the first only, and
  /// dns.* fields in an alert whose document is its flow, which has no `dns`.
  @Test func matchedFieldNamesOnlyAFieldHoldingTheValue() throws {
    // A second question: related.hosts holds it, dns.question.name does not.
    let twoQuestions = lookup(questions: ["a.example", "b.evil.example"])
    let second = try document(alert([.dns(twoQuestions)], match("b.evil.example", in: "dns.questions")))
    #expect(try matched(second)["field"] == "related.hosts")
    #expect(((second["dns"] as? [String: Any])?["question"] as? [String: Any])?["name"] as? String == "a.example")
    try expectFieldHoldsAtomic(second)
    let first = try document(alert([.dns(twoQuestions)], match("a.example", in: "dns.questions")))
    #expect(try matched(first)["field"] == "dns.question.name")

    // A lookup's alert folded with the connection after it: the document is the flow's.
    let asked = lookup(
      questions: ["www.example"],
      answers: [.init(name: "www.example", type: "CNAME", timeToLive: 60, data: "cdn.evil.example")])
    let connection = flow(names: ["www.example", "cdn.evil.example"])
    let folded = try document(alert([.dns(asked), .flow(connection)], match("cdn.evil.example", in: "dns.answers")))
    #expect(folded["dns"] == nil)
    #expect(try matched(folded)["field"] == "destination.domain")
    try expectFieldHoldsAtomic(folded)
    let question = try document(alert([.dns(asked), .flow(flow())], match("www.example", in: "dns.questions")))
    #expect(try matched(question)["field"] == "related.hosts")
    try expectFieldHoldsAtomic(question)

    // The alias as the lookup's own document has it, and a process name the flow lacks.
    let alias = try document(alert([.dns(asked)], match("cdn.evil.example", in: "dns.answers")))
    #expect(try matched(alias)["field"] == "dns.answers.data")
    try expectFieldHoldsAtomic(alias)
    var comm = match("curl", in: "process.comm")
    comm.type = "string"
    let noProcess = try document(alert([.flow(flow())], comm))
    #expect(try matched(noProcess) == ["atomic": "curl", "type": "indicator_match_rule"])
  }

  /// A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d: related.ip held it so and again
  /// bare (the listed host), and matched.atomic was bare while destination.ip, the field it
  /// named, was mapped. One form each, the one the side's field writes.
  @Test func anIPv4MappedSideHasOneFormInRelatedAndMatched() throws {
    let host = IntelIndicatorMatch(
      indicator: "203.0.113.5/32", type: "address", list: "c2", source: "f:3", matchedValue: "203.0.113.5",
      matchedField: "remote", provider: "f", file: "f", line: 3)
    let mapped = flow("::ffff:198.51.100.2", "::ffff:203.0.113.5")
    let side = try document(alert([.flow(mapped)], host))
    #expect((side["destination"] as? [String: Any])?["ip"] as? String == "::ffff:203.0.113.5")
    #expect((side["related"] as? [String: [String]])?["ip"] == ["::ffff:198.51.100.2", "::ffff:203.0.113.5"])
    #expect(
      try matched(side) == ["atomic": "::ffff:203.0.113.5", "field": "destination.ip", "type": "indicator_match_rule"])
    try expectFieldHoldsAtomic(side)
    // The listed indicator is the list's, as before: the bare address, to join with other feeds.
    #expect(((side["threat"] as? [String: Any])?["indicator"] as? [String: Any])?["ip"] as? String == "203.0.113.5")

    // A block's match on an answer: the address is in related.ip once, and named where it is.
    var block = host
    block.indicator = "203.0.113.0/24"
    block.matchedValue = "203.0.113.9"
    block.matchedField = "dns.answers"
    let answered = lookup(
      questions: ["www.example"], answers: [.init(name: "www.example", type: "A", timeToLive: 60, data: "203.0.113.9")])
    let fromLookup = try document(alert([.dns(answered)], block))
    #expect((fromLookup["related"] as? [String: [String]])?["ip"] == ["10.0.0.5", "10.0.0.53", "203.0.113.9"])
    #expect(try matched(fromLookup)["field"] == "dns.answers.data")
    try expectFieldHoldsAtomic(fromLookup)
    // Folded into the flow to another address: the flow's document holds it in related.ip only.
    let folded = try document(alert([.dns(answered), .flow(flow())], block))
    #expect(try matched(folded)["field"] == "related.ip")
    try expectFieldHoldsAtomic(folded)
  }

  /// dns.answers holds the A and AAAA answers' addresses beside the aliases, and everything a name
  /// list matched there went to related.hosts: a `string` list of addresses put one in it. An
  /// address is related.ip's, written as that array writes addresses, and matched names it as an
  /// address list's match.
  @Test func anAddressAStringListMatchedAmongTheAnswersIsNoHostName() throws {
    var listed = match("203.0.113.5", in: "dns.answers")
    listed.indicator = "203.0.113.5"
    listed.type = "string"
    let answered = lookup(
      questions: ["www.example"], answers: [.init(name: "www.example", type: "A", timeToLive: 60, data: "203.0.113.5")])
    let fromLookup = try document(alert([.dns(answered)], listed))
    let related = try #require(fromLookup["related"] as? [String: [String]])
    #expect(related["hosts"] == ["www.example"])
    #expect(related["ip"] == ["10.0.0.5", "10.0.0.53", "203.0.113.5"])
    #expect(try matched(fromLookup)["field"] == "dns.answers.data")
    try expectFieldHoldsAtomic(fromLookup)

    // Folded into the flow to that address, a mapped side: the side's field and form.
    let toIt = try document(alert([.dns(answered), .flow(flow("::ffff:198.51.100.2", "::ffff:203.0.113.5"))], listed))
    #expect((toIt["related"] as? [String: [String]])?["hosts"] == nil)
    #expect((toIt["related"] as? [String: [String]])?["ip"] == ["::ffff:198.51.100.2", "::ffff:203.0.113.5"])
    #expect(
      try matched(toIt) == ["atomic": "::ffff:203.0.113.5", "field": "destination.ip", "type": "indicator_match_rule"])
    try expectFieldHoldsAtomic(toIt)

    // An IPv6 answer, as the list spelled it, folded into a flow elsewhere: related.ip's own form.
    listed.matchedValue = "2001:DB8:0::5"
    let elsewhere = try document(alert([.dns(answered), .flow(flow())], listed))
    #expect((elsewhere["related"] as? [String: [String]])?["ip"] == ["198.51.100.2", "203.0.113.5", "2001:db8::5"])
    #expect((elsewhere["related"] as? [String: [String]])?["hosts"] == nil)
    #expect(try matched(elsewhere) == ["atomic": "2001:db8::5", "field": "related.ip", "type": "indicator_match_rule"])
    #expect(!CEFMessage.line(for: alert([.dns(answered), .flow(flow())], listed), context: context).contains("dhost="))
  }

  /// A Zeek meta.source and a feed's path come from files anyone may have written: the provider and
  /// the position, now fields of their own, keep the document one valid JSON line whatever they hold.
  @Test func hostileProvidersAndPathsKeepTheDocumentValid() throws {
    let hostile = "a\"b\\c\u{1B}[2J\u{0}\n\u{2028}\u{202E}d"
    let match = IntelIndicatorMatch(
      indicator: "evil.example", type: "domain", list: hostile, source: "\(hostile) (\(hostile):7)",
      matchedValue: "evil.example", matchedField: "remote_dns", provider: hostile, file: hostile, line: 7)
    var bytes: [UInt8] = []
    ECSJSON.append(alert([.flow(flow(names: ["evil.example"]))], match), context: context, to: &bytes)
    #expect(!bytes.contains(UInt8(ascii: "\n")))
    let document = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    #expect(((document["threat"] as? [String: Any])?["indicator"] as? [String: Any])?["provider"] as? String == hostile)
    let position = (document["flowsentry"] as? [String: Any]).flatMap { $0["alert"] as? [String: Any] }?["indicator"]
    #expect((position as? [String: Any])?["file"] as? String == hostile)
    #expect((position as? [String: Any])?["source"] as? String == match.source)
  }
}

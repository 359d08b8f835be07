import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryOutput

/// CEF: where a lookup's name goes, and the characters no CEF value carries raw.
@Suite struct CEFLookupAndFormatCharacterTests {
  let context = EventJSON.Context(hostName: "sensor-1")

  func lookup(_ question: String) -> DNSEvent {
    DNSEvent(
      timestamp: 1_700_000_000_000_000_000, source: Endpoint(IPAddress("192.0.2.53")!, 53),
      destination: Endpoint(IPAddress("198.51.100.2")!, 40_000), transport: .udp, cgroupID: 0, id: 7, responseCode: 0,
      questions: [question], answers: [], truncated: false)
  }

  func alert(_ events: [SensorEvent], message: String = "m", indicator: IntelIndicatorMatch? = nil) -> Alert {
    Alert(
      id: "0123456789abcdef", timestamp: 1_700_000_000_000_000_000, ruleID: "FS-INTEL-002", ruleName: "listed",
      severity: .high, tags: [], message: message, group: [], count: 1, windowNanoseconds: nil, suppressed: 0,
      events: events, eventsLeftOut: 0, indicator: indicator)
  }

  /// The CEF dictionary's `request` is requestUrl, a URL with its protocol; no predefined key holds
  /// a DNS query name (dhost and destinationDnsDomain are the destination's, here the resolver),
  /// so the name is a labelled custom string, cut at deviceCustomString's 4,000 characters.
  @Test func aLookupsNameIsALabelledCustomStringNotARequestURL() {
    for line in [
      CEFMessage.line(for: .dns(lookup("c2.example.test")), context: context),
      CEFMessage.line(for: alert([.dns(lookup("c2.example.test"))]), context: context),
    ] {
      #expect(line.contains(" cs2Label=dnsQuery cs2=c2.example.test"), "\(line)")
      #expect(!line.contains("request="))
      #expect(line.contains(" dst=192.0.2.53 "))
      #expect(!line.contains("dhost="))
    }
    let long = String(repeating: "a", count: 5000)
    let line = CEFMessage.line(for: .dns(lookup(long)), context: context)
    #expect(line.contains(" cs2=" + String(repeating: "a", count: 4000)))
    #expect(!line.contains(String(repeating: "a", count: 4001)))
    // A lookup without a question writes no empty pair.
    var none = lookup("x")
    none.questions = []
    #expect(!CEFMessage.line(for: .dns(none), context: context).contains("cs2"))
  }

  /// Bidirectional overrides, isolates and marks reorder what a reader sees (`\u{202E}` before
  /// `moc.evil` shows `live.com`), and invisible format characters make values that read alike
  /// differ; CEF has no escape for them and wrote them raw. Each becomes U+FFFD, header and
  /// extensions, also where it joins the character before it (U+200D, a tag character).
  @Test func formatCharactersBecomeReplacementCharacters() {
    let spoofing: [Unicode.Scalar] = [
      "\u{200E}", "\u{200F}", "\u{202A}", "\u{202B}", "\u{202C}", "\u{202D}", "\u{202E}", "\u{2066}", "\u{2067}",
      "\u{2068}", "\u{2069}", "\u{061C}", "\u{FEFF}", "\u{200B}", "\u{200D}", "\u{2060}", "\u{00AD}", "\u{E0041}",
    ]
    for scalar in spoofing {
      let hostile = "a" + String(Character(scalar)) + "moc.evil"
      var event = alert([.dns(lookup(hostile))], message: hostile)
      event.ruleName = hostile
      event.indicator = IntelIndicatorMatch(indicator: "evil", type: "domain", list: "l", source: hostile)
      let line = CEFMessage.line(for: event, context: context)
      let expected = "a\u{FFFD}moc.evil"
      #expect(
        line.split(separator: "|", maxSplits: 7, omittingEmptySubsequences: false)[5] == Substring(expected),
        "U+\(String(scalar.value, radix: 16))")
      #expect(line.contains("msg=\(expected) "), "U+\(String(scalar.value, radix: 16))")
      #expect(line.contains("cs2=\(expected) "), "U+\(String(scalar.value, radix: 16))")
      #expect(line.hasSuffix("cs6=\(expected)"), "U+\(String(scalar.value, radix: 16))")
      #expect(!line.unicodeScalars.contains { $0.properties.generalCategory == .format })
    }
    // A TAB too (CEF has no \t); letters of other scripts and emoji stay.
    #expect(CEFMessage.escapeExtension("a\tb", limit: 10) == "a\u{FFFD}b")
    #expect(CEFMessage.escapeExtension("é日本ش👍", limit: 10) == "é日本ش👍")
    // The limit counts the scalars after the replacement: the joiner's U+FFFD is one of the two.
    #expect(CEFMessage.escapeExtension("a\u{200D}bc", limit: 2) == "a\u{FFFD}")
  }
}

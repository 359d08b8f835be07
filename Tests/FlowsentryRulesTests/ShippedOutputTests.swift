import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// The shipped rules over several kinds of event say, for each kind, what it has: an analyst reads
/// this text in the SIEM, where `connection of - with -:-` beside a lookup was noise.
@Suite struct ShippedOutputTests {
  /// The shipped intel rules with their feed directory moved to `directory`, so that a Zeek feed
  /// can be put under them.
  static func intelRules(feeds directory: String) throws -> RuleSet {
    let shipped = try #require(RuleLoader.builtInRules.first { $0.name == "built-in/30-intel.yaml" })
    let text = shipped.text.replacingOccurrences(of: "/etc/flowsentry/intel/", with: directory + "/")
    return try RuleLoader.load(sources: [RuleSource(name: "shipped/30-intel.yaml", text: text)], paths: [])
  }

  static let zeekFeed = """
    #fields\tindicator\tindicator_type\tmeta.source
    203.0.113.66\tIntel::ADDR\tvendorA-c2
    """

  static func flow(
    _ name: EventName, _ direction: ConnectionDirection, from source: String, _ sourcePort: UInt16,
    to destination: String, _ destinationPort: UInt16, names: [String] = [], closeReason: CloseReason? = nil,
    attempts: UInt64? = nil, command: String? = "curl"
  ) -> SensorEvent {
    .flow(
      FlowEvent(
        name: name, timestamp: 1, direction: direction, source: Endpoint(IPAddress(source)!, sourcePort),
        destination: Endpoint(IPAddress(destination)!, destinationPort),
        destinationNames: direction == .outgoing ? names : [], closeReason: closeReason,
        terminatedBy: closeReason == nil ? nil : .local,
        process: command.map { ProcessIdentity(pid: 7, uid: 0, command: $0) }, attempts: attempts))
  }

  static func lookup(_ name: String, answers: [String], answered: Bool = true) -> SensorEvent {
    var event = DNSEvent(
      timestamp: 1, source: Endpoint(IPAddress("198.51.100.53")!, 53),
      destination: Endpoint(IPAddress("198.51.100.2")!, 40_002), transport: .udp, cgroupID: 0, id: 1,
      responseCode: 0, questions: [name],
      answers: answers.map {
        .init(name: name, type: IPAddress($0) == nil ? "CNAME" : "A", timeToLive: 60, data: $0)
      }, truncated: false)
    event.answered = answered
    return .dns(event)
  }

  /// The message of `rule` for each event, each in a fresh engine (the rules suppress by indicator).
  static func messages(_ rules: RuleSet, _ rule: String, _ events: [SensorEvent]) -> [String] {
    events.map { event in
      let engine = RuleEngine(rules: rules)
      var alerts: [Alert] = []
      engine.process(event, at: 1, into: &alerts)
      return alerts.filter { $0.ruleID == rule }.map(\.message).joined(separator: " | ")
    }
  }

  /// Whether a message holds a lone `-`, what a placeholder renders for a field its event lacks.
  static func hasEmptyPlaceholder(_ message: String) -> Bool {
    message.split { " ,:;()".contains($0) }.contains("-")
  }

  @Test func intel001SaysForALookupAndForAConnectionWhatEachHas() throws {
    let feeds = try RuleIntelListTests.Directory(["c2.intel": Self.zeekFeed])
    defer { feeds.remove() }
    let rules = try Self.intelRules(feeds: feeds.path)
    let listed = "listed address 192.0.2.254/32 in intel_addresses from shipped/30-intel.yaml:20"
    let messages = Self.messages(
      rules, "FS-INTEL-001",
      [
        Self.lookup("c2.example", answers: ["203.0.113.5", "192.0.2.254"]),
        Self.flow(.netFlowTCPBegin, .outgoing, from: "198.51.100.2", 40_000, to: "192.0.2.254", 443),
        Self.flow(
          .netFlowTCPEnd, .outgoing, from: "198.51.100.2", 40_001, to: "192.0.2.254", 443, closeReason: .timeout),
        Self.flow(
          .netFlowTCPHalfOpen, .incoming, from: "192.0.2.254", 50_000, to: "198.51.100.2", 22, attempts: 3,
          command: nil),
        // A Zeek feed's source is already `meta.source (file:line)`: no brackets inside brackets.
        Self.flow(.netFlowTCPBegin, .outgoing, from: "198.51.100.2", 40_003, to: "203.0.113.66", 8443),
      ])
    #expect(
      messages == [
        "\(listed); lookup of c2.example answered 203.0.113.5,192.0.2.254",
        "\(listed); outgoing connection of curl with 192.0.2.254:443",
        "\(listed); outgoing connection attempt of curl with 192.0.2.254:443 failed (timeout)",
        "\(listed); half-open connection attempts from 192.0.2.254 to port 22: 3",
        "listed address 203.0.113.66/32 in intel_zeek_addresses from vendorA-c2 (\(feeds.path)/c2.intel:2); "
          + "outgoing connection of curl with 203.0.113.66:8443",
      ])
    #expect(!messages.contains(where: Self.hasEmptyPlaceholder), "\(messages)")
  }

  @Test func intel002SaysForALookupAndForAConnectionWhatEachHas() throws {
    let feeds = try RuleIntelListTests.Directory([:])
    defer { feeds.remove() }
    let rules = try Self.intelRules(feeds: feeds.path)
    let listed = "listed domain flowsentry-selftest.invalid in intel_domains from shipped/30-intel.yaml:38"
    let messages = Self.messages(
      rules, "FS-INTEL-002",
      [
        Self.lookup("www.example", answers: ["c2.flowsentry-selftest.invalid", "203.0.113.9"]),
        Self.flow(
          .netFlowTCPBegin, .outgoing, from: "198.51.100.2", 40_000, to: "203.0.113.9", 443,
          names: ["c2.flowsentry-selftest.invalid"]),
        // A DNS firewall dropped it: no answer came, which the text says apart from an empty answer.
        Self.lookup("c2.flowsentry-selftest.invalid", answers: [], answered: false),
      ])
    #expect(
      messages == [
        "\(listed); lookup of www.example (answered: true), answers: c2.flowsentry-selftest.invalid,203.0.113.9",
        "\(listed); outgoing connection of curl with c2.flowsentry-selftest.invalid (203.0.113.9:443)",
        "\(listed); lookup of c2.flowsentry-selftest.invalid (answered: false), answers: -",
      ])
    #expect(!messages.dropLast().contains(where: Self.hasEmptyPlaceholder), "\(messages)")
  }

  @Test func dns003NamesTheLookupOrTheConnectionAlone() throws {
    let rules = try RuleLoader.load(sources: RuleLoader.builtInRules, paths: [])
    let messages = Self.messages(
      rules, "FS-DNS-003",
      [
        Self.lookup("c1abc.oast.fun", answers: ["203.0.113.77"]),
        Self.flow(
          .netFlowTCPBegin, .outgoing, from: "198.51.100.2", 40_000, to: "203.0.113.77", 80,
          names: ["c1abc.oast.fun"]),
      ])
    #expect(
      messages == [
        "out-of-band testing domain: lookup of c1abc.oast.fun (answered: true), answers: 203.0.113.77",
        "out-of-band testing domain: curl connected to c1abc.oast.fun (203.0.113.77:80)",
      ])
  }
}

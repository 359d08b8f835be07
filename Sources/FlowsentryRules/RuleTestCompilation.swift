import FlowsentryCore
import Foundation
import Yams

/// Compile: a rule's `tests:`, each with its events or capture, its count and the alerts it expects.
extension RuleSetBuilder {
  static let testKeys = ["name", "events", "capture", "local", "expect", "alerts"]
  static let alertExpectationKeys = ["output", "output_contains", "severity"]

  /// `testEvents`: the events the tests compiled so far generated, against `RuleLimits.maximumTestEvents`.
  mutating func compileTests(_ node: Node?, _ file: String, testEvents: inout Int) -> [RuleTest] {
    guard let node else { return [] }
    guard case .sequence(let items) = node else {
      report(.error, location(node, file), "'tests' must be a list")
      return []
    }
    var tests: [RuleTest] = []
    for item in items {
      guard case .mapping(let mapping) = item else {
        report(.error, location(item, file), "a test has name, events (or capture) and expect")
        continue
      }
      // What one alert says belongs to an entry of `alerts`: said there, rather than as an unknown key.
      for (key, _) in mapping {
        guard let name = key.string, Self.alertExpectationKeys.contains(name) else { continue }
        report(
          .error, location(key, file),
          "'\(name)' is said of one alert: put it in 'alerts', one entry an alert (alerts: [{\(name): …}])")
      }
      checkKeys(mapping, Self.testKeys, "a test", file, reportedElsewhere: Self.alertExpectationKeys)
      let name = mapping["name"]?.string ?? "test at line \(location(item, file).line)"
      // Each mistake is reported, the events' too, before the test is left out.
      var failed = false
      var expectations: [AlertExpectation]?
      if let alerts = mapping["alerts"] {
        expectations = compileAlertExpectations(alerts, file)
        failed = expectations == nil
      }
      var expect = expectations?.count ?? 0
      if let node = mapping["expect"] {
        if let value = node.checkedInt, value >= 0 {
          expect = value
          if let expectations, expectations.count != value,
            let alerts = mapping.first(where: { $0.key.string == "alerts" })?.key
          {
            report(
              .error, location(alerts, file),
              "'alerts' lists \(expectations.count) alert\(expectations.count == 1 ? "" : "s") and 'expect' says "
                + "\(value): 'alerts' says how many, and 'expect' may go")
            failed = true
          }
        } else {
          report(.error, location(node, file), "'expect' is the number of alerts expected (0: none)")
          failed = true
        }
      } else if mapping["alerts"] == nil {
        report(
          .error, location(item, file), "a test needs 'expect', the number of alerts expected (0: none), or 'alerts'")
        failed = true
      }
      guard case .sequence(let eventNodes) = mapping["events"] ?? .sequence([]) else {
        report(.error, location(item, file), "'events' must be a list")
        continue
      }
      var events: [TestEvent] = []
      for eventNode in eventNodes {
        let budget = TestEventReader.Budget(
          test: RuleLimits.maximumEventsPerTest - events.count, load: RuleLimits.maximumTestEvents - testEvents)
        let generated = TestEventReader.read(eventNode, file, budget: budget, into: &self)
        events += generated
        testEvents += generated.count
      }
      let capture = compileCapture(mapping, file)
      if capture != nil && !eventNodes.isEmpty {
        report(.error, location(item, file), "a test lists events or names a capture, not both")
        continue
      }
      if failed { continue }
      var test = RuleTest(
        name: name, events: events, capture: capture, expectedAlerts: expect, location: location(item, file))
      test.alerts = expectations
      tests.append(test)
    }
    return tests
  }

  /// `alerts: [{output: TEXT}, {output_contains: [TEXT, …], severity: LEVEL}, {}]`, one entry an
  /// alert in the order raised; nil after an error (reported).
  fileprivate mutating func compileAlertExpectations(_ node: Node, _ file: String) -> [AlertExpectation]? {
    guard case .sequence(let items) = node else {
      report(
        .error, location(node, file),
        "'alerts' is a list of the alerts expected, in the order raised: {output: TEXT}, {output_contains: TEXT}, "
          + "{severity: LEVEL}, {} for any")
      return nil
    }
    let errorsBefore = diagnostics.count
    var expectations: [AlertExpectation] = []
    for item in items {
      guard case .mapping(let fields) = item else {
        report(
          .error, location(item, file),
          "an entry of 'alerts' is a mapping of output, output_contains and severity ({} for any alert)")
        continue
      }
      checkKeys(fields, Self.alertExpectationKeys, "an entry of 'alerts'", file)
      var expectation = AlertExpectation(location: location(item, file))
      if let node = fields["output"] {
        if let text = node.scalar?.string, !text.isEmpty {
          expectation.output = text
        } else {
          report(.error, location(node, file), "'output' is the alert's whole text, a non-empty string")
        }
      }
      if let node = fields["output_contains"] {
        expectation.outputContains = compilePartsOfText(node, file)
        if let output = fields["output"] {
          report(
            .error, location(output, file),
            "'output' is the alert's whole text and 'output_contains' parts of it: one or the other")
        }
      }
      if let node = fields["severity"] {
        if let value = node.string.flatMap(Severity.init(rawValue:)) {
          expectation.severity = value
        } else {
          report(
            .error, location(node, file),
            "severity must be one of \(Severity.allCases.map(\.rawValue).joined(separator: ", "))")
        }
      }
      expectations.append(expectation)
    }
    guard !diagnostics[errorsBefore...].contains(where: { $0.severity == .error }) else { return nil }
    return expectations
  }

  /// `output_contains: TEXT` or a list of texts, each non-empty (an empty one holds in every text).
  private mutating func compilePartsOfText(_ node: Node, _ file: String) -> [String] {
    let items: [Node]
    switch node {
    case .scalar: items = [node]
    case .sequence(let sequence) where !sequence.isEmpty: items = Array(sequence)
    default:
      report(.error, location(node, file), "'output_contains' is a text, or a list of texts, the alert's text holds")
      return []
    }
    var parts: [String] = []
    for item in items {
      guard let text = item.scalar?.string, !text.isEmpty else {
        report(.error, location(item, file), "each text of 'output_contains' is a non-empty string")
        continue
      }
      parts.append(text)
    }
    return parts
  }

  /// `capture: FILE` (relative to the rule file) with `local: [networks]`, or nil.
  fileprivate mutating func compileCapture(_ mapping: Node.Mapping, _ file: String) -> RuleTest.Capture? {
    guard let node = mapping["capture"] else {
      if let local = mapping["local"] { report(.error, location(local, file), "'local' goes with 'capture'") }
      return nil
    }
    guard let name = node.string, !name.isEmpty else {
      report(.error, location(node, file), "'capture' names a pcap or pcapng file, relative to this rule file")
      return nil
    }
    let directory = (file as NSString).deletingLastPathComponent
    let path = name.hasPrefix("/") || directory.isEmpty ? name : directory + "/" + name
    var networks: [IPNetwork] = []
    if let local = mapping["local"] {
      guard case .sequence(let items) = local else {
        report(.error, location(local, file), "'local' is a list of addresses and networks")
        return nil
      }
      for item in items {
        guard let text = item.string, let network = IPNetwork(text) else {
          report(.error, location(item, file), "'\(item.string ?? "")' is not an address or a CIDR block")
          continue
        }
        networks.append(network)
      }
    }
    return RuleTest.Capture(path: path, localNetworks: networks)
  }
}

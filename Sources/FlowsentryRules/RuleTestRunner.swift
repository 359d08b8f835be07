import FlowsentryCore

/// Runs the `tests:` of every rule, each in a fresh engine holding that rule alone.
public enum RuleTestRunner {
  public struct Result: Sendable {
    public var ruleID: String
    public var test: String
    public var expected: Int
    public var raised: Int
    public var location: String
    /// Why the test could not run (a capture that cannot be replayed), when it could not.
    public var error: String?
    /// Why the test was not run at all (a capture test of the built-in copy, which has no files).
    public var skipped: String?
    /// Whether the test lists `alerts:`, whose texts it checks.
    public var checksAlerts = false
    /// The alerts the test raised, in order (kept to show them when a check of them fails).
    public var raisedAlerts: [RaisedAlert] = []
    /// The raised alerts that are not what their entry of `alerts:` says.
    public var alertFailures: [AlertFailure] = []
    public var passed: Bool { skipped == nil && error == nil && expected == raised && alertFailures.isEmpty }
  }

  /// What a test needs of an alert to check it and to show it.
  public struct RaisedAlert: Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var severity: Severity

    public init(message: String, severity: Severity) {
      self.message = message
      self.severity = severity
    }

    /// `critical "text"`: how `rules test` shows an alert that was raised.
    public var description: String { "\(severity.rawValue) \(AlertExpectation.quoted(message))" }
  }

  /// One raised alert against its entry of `alerts:`.
  public struct AlertFailure: Sendable {
    /// 1 for the first alert the test raised.
    public var alert: Int
    /// The entry's `file:line`.
    public var location: String
    /// What the entry says and the alert does not (`output containing "c2.example"`).
    public var unmet: [String]
    public var raised: RaisedAlert
  }

  /// Replays a test's capture with `rules` (the rule under test alone) and returns the alerts raised,
  /// or why it could not. Rules do not read captures themselves: replay provides this.
  public typealias CaptureRunner = @Sendable (RuleTest.Capture, RuleSet) -> Swift.Result<[Alert], CaptureTestError>

  public struct CaptureTestError: Error, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
  }

  public static func run(_ rules: RuleSet, captures: CaptureRunner? = nil) -> [Result] {
    var results: [Result] = []
    for rule in rules.rules {
      for test in rule.tests {
        var enabled = rule
        enabled.enabled = true
        let alone = RuleSet(rules: [enabled], warnings: [], files: rules.files, regexCount: rules.regexCount)
        var result = Result(
          ruleID: rule.id, test: test.name, expected: test.expectedAlerts, raised: 0,
          location: "\(test.location.file):\(test.location.line)")
        var alerts: [Alert] = []
        if let capture = test.capture {
          if rule.isBuiltIn {
            result.skipped = "the built-in copy has no capture files (run it on the rule files themselves)"
          } else if let captures {
            switch captures(capture, alone) {
            case .success(let raised): alerts = raised
            case .failure(let error): result.error = error.message
            }
          } else {
            result.error = "a capture test needs replay to run it (flowsentry rules test)"
          }
        } else {
          let engine = RuleEngine(rules: alone)
          for event in test.events.sorted(by: { $0.at < $1.at }) {
            engine.process(event.event, at: event.at, into: &alerts)
          }
        }
        result.raised = alerts.count
        if let expectations = test.alerts {
          check(alerts, against: expectations, into: &result)
        }
        results.append(result)
      }
    }
    return results
  }

  /// Each alert against the entry in its place; alerts past the entries, or entries past the
  /// alerts, are the count's failure, which `expected` and `raised` already say.
  static func check(_ alerts: [Alert], against expectations: [AlertExpectation], into result: inout Result) {
    result.checksAlerts = true
    result.raisedAlerts = alerts.map { RaisedAlert(message: $0.message, severity: $0.severity) }
    for (index, (expectation, raised)) in zip(expectations, result.raisedAlerts).enumerated() {
      let unmet = expectation.unmet(message: raised.message, severity: raised.severity)
      guard !unmet.isEmpty else { continue }
      result.alertFailures.append(
        AlertFailure(
          alert: index + 1, location: "\(expectation.location.file):\(expectation.location.line)", unmet: unmet,
          raised: raised))
    }
  }
}

extension RuleTestRunner.Result {
  /// How `rules test` reports the test: `ok  ID: name`, or `FAIL ID: name (why) at file:line` with,
  /// when its alerts' texts were checked, what was expected and what was raised on the lines after.
  public var lines: [String] {
    let mark = skipped != nil ? "skip" : passed ? "ok  " : "FAIL"
    var detail = ""
    var more: [String] = []
    if let reason = skipped {
      detail = " (\(reason))"
    } else if let error {
      detail = " (\(error)) at \(location)"
    } else if expected != raised {
      detail = " (expected \(expected) alerts, raised \(raised)) at \(location)"
      // What was raised, so that a test that checks texts shows them whichever way the count is off.
      if checksAlerts {
        more = raisedAlerts.enumerated().map { "     alert \($0.offset + 1) raised: \($0.element)" }
      }
    } else if !alertFailures.isEmpty {
      let which = alertFailures.map { String($0.alert) }.joined(separator: ", ")
      detail =
        " (alert\(alertFailures.count == 1 ? "" : "s") \(which) of \(raised) not as 'alerts' expects) at \(location)"
      for failure in alertFailures {
        more.append(
          "     alert \(failure.alert) expected at \(failure.location): \(failure.unmet.joined(separator: ", "))")
        more.append("     alert \(failure.alert) raised: \(failure.raised)")
      }
    }
    return ["\(mark) \(ruleID): \(test)\(detail)"] + more
  }
}

import FlowsentryCore
import FlowsentryPatterns

/// `threshold:` — a rule fires when enough matching events fall in a sliding window.
public struct Threshold: Sendable {
  public enum Measure: Sendable, Equatable {
    /// Matching events.
    case count
    /// Distinct values of a field among matching events (port scans: distinct dst_port).
    case distinct(field: String)
    /// The sum of an integer field (bytes_sent: an upload spread over connections), saturating.
    case sum(field: String)
    /// The largest value of an integer field.
    case maximum(field: String)
  }

  public var measure: Measure
  public var atLeast: Int
  public var windowNanoseconds: Int64
  public var groupBy: [String]
}

/// A compiled rule, ready to evaluate.
public struct Rule: @unchecked Sendable {
  public var id: String
  public var name: String
  public var description: String
  public var severity: Severity
  public var tags: [String]
  public var references: [String]
  public var enabled: Bool
  public var events: Set<EventName>
  public var threshold: Threshold?
  /// `beacon:` — score how periodic each group's connections are (BeaconRule.swift).
  public var beacon: BeaconRule? = nil
  /// `first_seen:` — alert on a value new for its group after learning (FirstSeenRule.swift).
  public var firstSeen: FirstSeenRule? = nil
  /// Alerts of the same rule and key within this window are folded into one.
  public var suppressWindowNanoseconds: Int64
  public var suppressBy: [String]
  public var output: RuleOutput
  public var tests: [RuleTest]
  var location: SourceLocation
  /// The file the rule came from (`built-in/…` for the rules built into the binary).
  public var origin: String { location.file }
  /// Whether the rule came from a file built into the binary, not from one on disk.
  public var isBuiltIn: Bool { RuleLoader.builtInRules.contains { $0.name == location.file } }
  var condition: Predicate
  var exceptions: [Predicate]
  var groupFields: [Field]
  var suppressFields: [Field]
  /// The field a `distinct` threshold counts, or a `sum`/`max` threshold measures.
  var distinctField: Field?
  /// The field whose values a `first_seen` rule learns.
  var firstSeenField: Field?
  /// The regexes of the condition and exceptions, whose limit hits are this rule's.
  var regexes: [PCRE2Regex] = []
  /// The regex tests of the condition and exceptions (each once), which count those limit hits.
  var regexLeaves: [RegexLeaf] = []
  /// A regex test the condition cannot be true without (nil when every one sits under `or` or
  /// `not`): the engine evaluates the rule only on events where it matched (RuleIndex.swift).
  var gate: RegexLeaf?
  /// The direction or close-reason test the condition starts with, if any: the engine calls the
  /// rule only on events it lets through (RuleEventGate.swift).
  var eventGate: EventGate?
  /// The pattern sets of the load this rule came from (RulePatterns.swift).
  var patternIndex: RulePatternIndex?
  /// The condition's intel-list terms, to name the indicator that matched (RuleIntelLists.swift).
  var intelTerms: [IntelTerm] = []
  /// Every typed list the condition and the exceptions test (`rules lookup` looks in these only).
  var intelListsRead: Set<String> = []
  /// `suppress: {by: [indicator]}`: alerts naming the same indicator fold into one.
  var suppressByIndicator = false

  /// Matches that a regex limit stopped (each counted as no match).
  public var regexLimitHits: UInt64 { regexLeaves.reduce(0) { $0 &+ $1.limitHits } }

  /// The condition and the exceptions as one predicate (the event name is checked by the engine).
  var matcher: Predicate {
    // Nested closures, and not `reduce`: its generic result would wrap the condition of every rule
    // in two conversion thunks, called on every event. The exceptions form a balanced tree, so
    // that many of them nest only as deep as their logarithm.
    func any(_ slice: ArraySlice<Predicate>) -> Predicate {
      if slice.count == 1 { return slice.first! }
      let left = any(slice[..<(slice.startIndex + slice.count / 2)])
      let right = any(slice[(slice.startIndex + slice.count / 2)...])
      return { event in left(event) || right(event) }
    }
    guard !exceptions.isEmpty else { return condition }
    let condition = condition
    let excepted = any(exceptions[...])
    return { event in condition(event) && !excepted(event) }
  }
}

/// `output:` with `{field}` placeholders, and `{count}`, `{window}`, `{group}` for thresholds.
public struct OutputTemplate: @unchecked Sendable {
  enum Piece {
    case text(String)
    case field(Field)
    /// An address written before `:{…port}`: an IPv6 one in brackets (`[2001:db8::1]:443`, RFC 3986's
    /// form), as `2001:db8::1:443` does not say where the address ends.
    case addressBeforePort(Field)
    case count, window, group
    /// A beaconing alert's measurements (`{score}`, `{period}`, `{jitter}`).
    case measurement(String)
    /// What a typed list matched: `{indicator}`, `{indicator.list}`, `{indicator.source}`.
    case indicator(KeyPath<IntelIndicatorMatch, String>)
  }

  var pieces: [Piece]

  func render(
    event: EventFields, count: Int, windowNanoseconds: Int64, group: String, measurements: [String: String] = [:],
    indicator: IntelIndicatorMatch? = nil
  ) -> String {
    var text = ""
    for piece in pieces {
      switch piece {
      case .text(let literal): text += literal
      case .field(let field): text += Fields.text(field, of: event) ?? "-"
      case .addressBeforePort(let field):
        guard case .address(let read) = field.accessor, let address = read(event) else {
          text += Fields.text(field, of: event) ?? "-"
          continue
        }
        text += address.isIPv4 ? address.description : "[\(address.description)]"
      case .count: text += String(count)
      case .window: text += Duration.describe(windowNanoseconds)
      case .group: text += group
      case .measurement(let name): text += measurements[name] ?? "-"
      case .indicator(let part): text += indicator?[keyPath: part] ?? "-"
      }
    }
    return text
  }
}

/// A rule's `output:`: one template, or one per event kind with `default` for the rest, so that an
/// alert names what its event has instead of `-` for the fields only another kind carries.
public struct RuleOutput: Sendable {
  /// The plain text, or `default:` (the rule's name when it has neither).
  var fallback: OutputTemplate
  var byEvent: [EventName: OutputTemplate] = [:]

  /// The template for an alert raised by `event`: for a threshold, beacon or first-seen rule the
  /// event that completed it, whose fields the message shows.
  func template(for event: EventName) -> OutputTemplate { byEvent[event] ?? fallback }
}

/// `tests:` inside a rule: a sequence of events and what should, or should not, be raised.
public struct RuleTest: Sendable {
  /// A capture file the test replays instead of listing events.
  public struct Capture: Sendable {
    /// Resolved against the rule file's directory.
    public var path: String
    /// The networks replay takes as local (empty: its default, the private address spaces).
    public var localNetworks: [IPNetwork]
  }

  public var name: String
  public var events: [TestEvent]
  public var capture: Capture?
  /// Alerts of this rule expected; 0 means "must not fire".
  public var expectedAlerts: Int
  /// `alerts:`, one a raised alert in the order raised; nil when the test counts alerts only.
  public var alerts: [AlertExpectation]? = nil
  var location: SourceLocation
}

/// What one alert of a test must say: a rule's text is what an analyst reads, and a count alone
/// passes when a per-event text names the wrong field or the wrong event's text is picked.
public struct AlertExpectation: Sendable {
  /// The alert's whole text (`output:`).
  public var output: String?
  /// Texts the alert's text holds, each anywhere in it (`output_contains:`): the part that matters
  /// without what varies, such as a built-in list's `{indicator.source}` line.
  public var outputContains: [String] = []
  public var severity: Severity?
  var location: SourceLocation

  /// What `message` and `severity` leave unmet, in the order written; empty when the alert is as expected.
  public func unmet(message: String, severity raised: Severity) -> [String] {
    var unmet: [String] = []
    if let output, output != message { unmet.append("output \(Self.quoted(output))") }
    for part in outputContains where !message.contains(part) {
      unmet.append("output containing \(Self.quoted(part))")
    }
    if let severity, severity != raised { unmet.append("severity \(severity.rawValue)") }
    return unmet
  }

  /// A text in quotes, its control characters escaped: an alert's text holds what events carried.
  public static func quoted(_ text: String) -> String { "\"\(TerminalText.escapingControls(text))\"" }
}

/// One event of a rule test, at a time relative to the test's start.
public struct TestEvent: Sendable {
  public var at: Int64
  public var event: SensorEvent
}

enum Duration {
  /// The longest duration a rule may name: windows and suppression beyond a month keep state for
  /// nothing, and larger numbers would overflow nanoseconds.
  static let maximum: Int64 = 31 * 86_400 * 1_000_000_000

  /// "250ms", "10s", "5m", "1h", "7d" → nanoseconds; nil when malformed, negative or above `maximum`.
  static func parse(_ text: String) -> Int64? {
    let units: [(String, Int64)] = [
      ("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
      ("d", 86_400_000_000_000),
    ]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
      guard let value = Int64(text.dropLast(suffix.count)), value >= 0 else { return nil }
      let (nanoseconds, overflow) = value.multipliedReportingOverflow(by: scale)
      guard !overflow, nanoseconds <= maximum else { return nil }
      return nanoseconds
    }
    return nil
  }

  static func describe(_ nanoseconds: Int64) -> String {
    if nanoseconds % 3_600_000_000_000 == 0 && nanoseconds > 0 { return "\(nanoseconds / 3_600_000_000_000)h" }
    if nanoseconds % 60_000_000_000 == 0 && nanoseconds > 0 { return "\(nanoseconds / 60_000_000_000)m" }
    if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000)s" }
    return "\(nanoseconds / 1_000_000)ms"
  }
}

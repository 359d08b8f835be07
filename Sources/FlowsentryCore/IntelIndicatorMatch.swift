/// The listed indicator that made a rule fire: what matched, in which list, and where the list read it.
public struct IntelIndicatorMatch: Sendable, Equatable {
  /// The indicator as the list holds it: a lower-cased domain, a block like `203.0.113.0/24`, a string, a port.
  public var indicator: String
  /// The list's indicator type: `domain`, `address`, `string` or `port`.
  public var type: String
  /// The list's name in the rule files.
  public var list: String
  /// `file:line` of the feed (or rule file, for inline items), or `meta.source (file:line)` for Zeek intel.
  public var source: String
  /// The event's value the list matched, as the rule read it: the name asked or the alias under a
  /// listed domain, the address in a listed block; empty when not known. ECS's
  /// `threat.enrichments.matched.atomic` (ECS threat-usage, "Enriched events").
  public var matchedValue: String
  /// The rule's field that value came from (`remote`, `remote_dns`, `dns.questions`, `dns.answers`,
  /// …), for the encoders to name the field their document holds it in; empty when not known.
  public var matchedField: String

  public init(
    indicator: String, type: String, list: String, source: String, matchedValue: String = "", matchedField: String = ""
  ) {
    self.indicator = indicator
    self.type = type
    self.list = list
    self.source = source
    self.matchedValue = matchedValue
    self.matchedField = matchedField
  }
}

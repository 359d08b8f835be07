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
  /// Who published the indicator: Zeek intel's `meta.source`, else the feed file (or rule file)
  /// it was read from; the same for every line of a feed, so that a SIEM grouping by ECS
  /// `threat.indicator.provider` gets one bucket per feed, not one per line. Empty when not known.
  public var provider: String
  /// The file the indicator was read from and its 1-based line, apart, for what `source` says in
  /// one text; empty and 0 when not known.
  public var file: String
  public var line: Int

  public init(
    indicator: String, type: String, list: String, source: String, matchedValue: String = "", matchedField: String = "",
    provider: String = "", file: String = "", line: Int = 0
  ) {
    self.indicator = indicator
    self.type = type
    self.list = list
    self.source = source
    self.matchedValue = matchedValue
    self.matchedField = matchedField
    self.provider = provider
    self.file = file
    self.line = line
  }
}

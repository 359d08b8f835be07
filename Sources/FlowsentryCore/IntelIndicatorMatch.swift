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

  public init(indicator: String, type: String, list: String, source: String) {
    self.indicator = indicator
    self.type = type
    self.list = list
    self.source = source
  }
}

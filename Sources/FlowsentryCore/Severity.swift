/// How serious a rule's alert is, from `info` to `critical`. Each output format maps it to its own
/// scale; the spool ranks alerts by it when it must drop some.
public enum Severity: String, CaseIterable, Sendable, Comparable {
  case info, low, medium, high, critical

  /// 0 for `info` up to 4 for `critical`.
  public var rank: Int {
    switch self {
    case .info: 0
    case .low: 1
    case .medium: 2
    case .high: 3
    case .critical: 4
    }
  }

  public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

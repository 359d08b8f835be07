import FlowsentryCore

/// `first_seen:` — a rule kind that alerts when a field's value (a remote port, a remote name, a
/// remote network) is new for its group (a process, a cgroup) once the group has been learned for
/// `learning`. What was learned survives restarts in the engine's state directory.
public struct FirstSeenRule: Sendable, Equatable {
  /// The most values a group may learn: `max_values` is range-checked against it.
  public static let largestValueLimit = 100_000

  public var field: String
  public var groupBy: [String]
  /// From a group's first event, values are learned silently for this long (default one day).
  public var learningNanoseconds: Int64 = 86_400_000_000_000
  /// Values kept per group; past it new values are neither learned nor alerted (counted).
  public var maximumValues = 1_000
  /// Values kept by the rule, all groups together (`max_total_values`, at most
  /// `RuleLimits.maximumFirstSeenValues`): past it the least recently seen groups are forgotten
  /// (counted as group evictions), so that the state stays bounded whatever the group count.
  public var maximumTotalValues = 100_000
  /// For address fields: learn networks of this prefix length instead of single addresses.
  public var prefixV4: Int?
  public var prefixV6: Int?

  public init(field: String, groupBy: [String]) {
    self.field = field
    self.groupBy = groupBy
  }

  /// The value as learned: an address masked to its network when a prefix is set.
  func learnedValue(_ value: FieldValue) -> FieldValue {
    guard case .address(let address) = value else { return value }
    switch address {
    case .v4(let bits):
      guard let prefix = prefixV4 else { return value }
      let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix)
      return .address(.v4(bits & mask))
    case .v6(let high, let low):
      guard let prefix = prefixV6 else { return value }
      let highMask: UInt64 = prefix == 0 ? 0 : prefix >= 64 ? ~0 : ~UInt64(0) << (64 - prefix)
      let lowMask: UInt64 = prefix <= 64 ? 0 : prefix == 128 ? ~0 : ~UInt64(0) << (128 - prefix)
      return .address(.v6(high: high & highMask, low: low & lowMask))
    }
  }

  /// A learned value as the state file writes it: a network with its prefix (`203.0.113.0/24`).
  func text(ofLearned value: FieldValue) -> String {
    guard case .address(let address) = value else { return value.text }
    switch address {
    case .v4: return prefixV4.map { "\(address)/\($0)" } ?? value.text
    case .v6: return prefixV6.map { "\(address)/\($0)" } ?? value.text
    }
  }

  func learnedText(_ value: FieldValue) -> String { text(ofLearned: learnedValue(value)) }

  /// Whether state learned under `other` means the same under this rule (a reload may change
  /// the learning period and the limits, not what a value or a group is).
  func learnsTheSameValues(as other: FirstSeenRule) -> Bool {
    field == other.field && groupBy == other.groupBy && prefixV4 == other.prefixV4 && prefixV6 == other.prefixV6
  }
}

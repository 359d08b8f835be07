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
  /// For address fields: learn networks of this prefix length instead of single addresses.
  public var prefixV4: Int?
  public var prefixV6: Int?

  public init(field: String, groupBy: [String]) {
    self.field = field
    self.groupBy = groupBy
  }

  /// The value as learned: an address masked to its network when a prefix is set.
  func learnedText(_ value: FieldValue) -> String {
    guard case .address(let address) = value else { return value.text }
    switch address {
    case .v4(let bits):
      guard let prefix = prefixV4 else { return value.text }
      let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix)
      return "\(IPAddress.v4(bits & mask))/\(prefix)"
    case .v6(let high, let low):
      guard let prefix = prefixV6 else { return value.text }
      let highMask: UInt64 = prefix == 0 ? 0 : prefix >= 64 ? ~0 : ~UInt64(0) << (64 - prefix)
      let lowMask: UInt64 = prefix <= 64 ? 0 : prefix == 128 ? ~0 : ~UInt64(0) << (128 - prefix)
      return "\(IPAddress.v6(high: high & highMask, low: low & lowMask))/\(prefix)"
    }
  }
}

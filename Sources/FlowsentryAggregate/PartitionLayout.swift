import FlowsentryRules

/// Which partitions an `aggregate` instance owns: instance `i` of `N` takes every partition `p`
/// with `p % N == i`, so that N instances started with the same N cover every partition once.
public struct PartitionLayout: Sendable, Equatable {
  public var partitions: Int
  public var instance: Int
  public var instances: Int

  public init(partitions: Int, instance: Int, instances: Int) throws(PartitionLayoutError) {
    guard instances >= 1, (0..<instances).contains(instance) else {
      throw PartitionLayoutError("--instance takes 0 to \(instances - 1) (of --instances \(instances))")
    }
    guard instances <= partitions else {
      throw PartitionLayoutError(
        "\(instances) instances over \(partitions) partitions would leave an instance without one; use at most \(partitions)"
      )
    }
    self.partitions = partitions
    self.instance = instance
    self.instances = instances
  }

  public var owned: [Int] { (0..<partitions).filter { $0 % instances == instance } }

  /// Why `rules` cannot run on a layout partitioned by `key`, one line per rule; empty when they can.
  ///
  /// A threshold's group must lie in one partition, so it must group by the partition key (or
  /// there must be one partition). Beaconing and first-seen rules keep state for longer than any
  /// window an acknowledgement can wait for, so the aggregate refuses them: they belong on sensors.
  ///
  /// The key must be a rule field (what the rules group by); a threshold grouped by it that reads
  /// DNS events is refused when DNS events lack the field: the subject's `{remote}` of a DNS event
  /// is its resolver, but its rule field `remote` is missing, so every lookup would fall in one
  /// group, counted in pieces on every partition.
  public static func problems(_ rules: RuleSet, partitionKey key: String, partitions: Int) -> [String] {
    var problems: [String] = []
    guard RuleFieldCatalog.isField(key) else {
      return [
        "partition_key '\(key)' is not a rule field: the rules group by fields, and the partition key must be the one "
          + "the stream's mapping hashes (remote, host, …; see docs/RULES.md)"
      ]
    }
    for rule in rules.rules where rule.enabled {
      if rule.beacon != nil || rule.firstSeen != nil {
        problems.append(
          "rule \(rule.id) (\(rule.origin)): beacon and first_seen rules keep state past any window; "
            + "aggregate runs threshold and single-event rules only (disable it, or run it on the sensors)")
        continue
      }
      guard partitions > 1 else { continue }
      if let threshold = rule.threshold, threshold.groupBy.contains(key), rule.events.contains(.netPacketDNS),
        !RuleFieldCatalog.dnsEventsCarry(key)
      {
        problems.append(
          "rule \(rule.id) (\(rule.origin)): it reads net_packet_dns events, which have no '\(key)' field, so all of "
            + "them would fall in one group spread over every partition (partitioned by '\(key)'); "
            + "drop net_packet_dns from its events, or run it on its own layout (partitions=1)")
      } else if let threshold = rule.threshold, !threshold.groupBy.contains(key) {
        let groups =
          threshold.groupBy.isEmpty ? "no group_by" : "group_by [\(threshold.groupBy.joined(separator: ", "))]"
        problems.append(
          "rule \(rule.id) (\(rule.origin)): its \(groups) spans partitions, which are partitioned by '\(key)'; "
            + "add \(key) to its group_by, or run it on its own layout (partition_key=… with a mapping on that key, "
            + "or partitions=1)")
      } else if rule.suppressWindowNanoseconds > 0, !rule.suppressBy.isEmpty, !rule.suppressBy.contains(key) {
        problems.append(
          "rule \(rule.id) (\(rule.origin)): suppress_by [\(rule.suppressBy.joined(separator: ", "))] spans partitions, "
            + "which are partitioned by '\(key)'; add \(key) to it")
      }
    }
    return problems
  }

  /// The longest threshold window of `rules`: how long an event can still feed a window.
  public static func longestWindowNanoseconds(_ rules: RuleSet) -> Int64 {
    rules.rules.filter(\.enabled).compactMap(\.threshold?.windowNanoseconds).max() ?? 0
  }
}

public struct PartitionLayoutError: Error, Equatable, CustomStringConvertible {
  public var description: String
  init(_ description: String) { self.description = description }
}

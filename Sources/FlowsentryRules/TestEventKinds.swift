import FlowsentryCore
import Yams

/// The keys each kind of test event takes: the fields its live events carry. A key of another kind
/// (`questions` on a `net_flow_tcp_begin`) was read by nothing and the test ran without it, so a
/// test could pass on an event that does not say what its author wrote. Public for the rule-file
/// fuzzer, which writes events as a careful author would.
public enum TestEventKeys {
  static let commonKeys = ["at", "event", "src", "dst", "src_port", "dst_port", "repeat", "every", "vary", "host"]
  private static let volumeKeys = VolumeFields.all.map(\.name) + VolumeFields.deltas.map(\.name)

  public static func keys(of kind: EventName) -> [String] {
    switch kind {
    case .netPacketDNS: return commonKeys + ["questions", "answers", "answered"]
    // Half-open reports are named from the DNS cache as every flow event is (Pipeline).
    case .netFlowTCPHalfOpen: return commonKeys + ["attempts", "src_dns", "dst_dns"]
    case .netFlowTCPBegin: return commonKeys + ["conn_direction", "src_dns", "dst_dns", "process"]
    // Updates and ends carry the flow's age and its volume (FlowTracker).
    case .netFlowTCPUpdate:
      return commonKeys + ["conn_direction", "src_dns", "dst_dns", "process", "duration_ns"] + volumeKeys
    case .netFlowTCPEnd:
      return commonKeys + [
        "conn_direction", "src_dns", "dst_dns", "process", "duration_ns", "close_reason", "terminated_by",
      ]
        + volumeKeys
    }
  }
}

extension TestEventReader {
  /// An error at each key `mapping` has that events of `kind` do not (unknown keys are `checkKeys`').
  static func checkKind(_ kind: EventName, _ mapping: Node.Mapping, _ file: String, into builder: inout RuleSetBuilder)
  {
    let taken = TestEventKeys.keys(of: kind)
    for (key, _) in mapping {
      guard let name = key.string, keys.contains(name), !taken.contains(name) else { continue }
      builder.report(
        .error, builder.location(key, file),
        "'\(name)' is not a field of \(kind.rawValue) events; a test event of that kind takes: "
          + taken.joined(separator: ", "))
    }
  }
}

import FlowsentryRules

/// The shipped fleet rules (rules/fleet/), built in: what `aggregate` loads when no `--rules` is
/// given. A test checks that this text and the file are the same.
public enum FleetRules {
  public static let source = RuleSource(name: "built-in/fleet/10-fleet.yaml", text: text)

  static let text = #"""
    # Fleet-wide rules, for `flowsentry aggregate` (not loaded by `monitor`): they read the events of
    # many sensors, each carrying its sensor's `host`. Every stateful rule here groups by `remote`,
    # the key the fleet's events are partitioned by (docs/FLEET.md).

    - rule:
        id: FS-FLEET-001
        name: One remote reaching many hosts of the fleet
        description: >
          One remote opened or tried connections to 30 or more distinct sensors of the fleet within
          ten minutes: a sweep of the network (internal lateral movement, or an outside scanner on
          public-facing hosts), which no single sensor sees as more than one connection.
        severity: high
        tags: [T1046, fleet]
        references: ["https://attack.mitre.org/techniques/T1046/"]
        events: [net_flow_tcp_begin, net_flow_tcp_end, net_flow_tcp_half_open]
        condition: >
          conn_direction == incoming
          and (event == net_flow_tcp_begin or event == net_flow_tcp_half_open or close_reason == refused)
        threshold: {distinct: host, count: 30, window: 10m, group_by: [remote]}
        output: "{remote} reached {count} hosts of the fleet within {window}"
        tests:
          # Tests that fire need events of many sensors (`host`), which rule tests cannot write yet:
          # Tests/FlowsentryNATSTests (FleetRuleTests and the fleet simulation) cover them.
          - name: one remote connecting to one host many times does not fire
            events:
              - {at: 0s, event: net_flow_tcp_begin, conn_direction: incoming, src: 198.51.100.66, dst: 203.0.113.1, dst_port: 22, repeat: 100, every: 1s, vary: {src_port: 1}}
            expect: 0

    """#
}

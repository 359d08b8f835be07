import FlowsentryConfiguration
import Testing

/// `flow_update_interval`: one setting for the socket walks and for the flow tracker's reports.
@Suite struct FlowUpdateIntervalTests {
  @Test func setsTheWalksAndTheTrackerAlike() throws {
    let defaults = try ConfigurationLoader.load(text: "stats_interval: 0\n", file: "c.yaml")
    #expect(defaults.capture.flowUpdateIntervalSeconds == 60)
    #expect(defaults.pipeline.flows.updateIntervalNanoseconds == 60_000_000_000)
    let set = try ConfigurationLoader.load(text: "flow_update_interval: 300\n", file: "c.yaml")
    #expect(set.capture.flowUpdateIntervalSeconds == 300)
    #expect(set.pipeline.flows.updateIntervalNanoseconds == 300_000_000_000)
    #expect(set.yaml.contains("flow_update_interval: 300"))
    let shown = try ConfigurationLoader.load(text: set.yaml, file: "shown.yaml")
    #expect(shown.flowUpdateIntervalSeconds == 300)
  }

  @Test func aValueOutOfRangeIsAPositionedError() {
    for text in ["flow_update_interval: -1\n", "flow_update_interval: 604801\n", "flow_update_interval: soon\n"] {
      do {
        _ = try ConfigurationLoader.load(text: "cgroup: null\n" + text, file: "c.yaml")
        Issue.record("accepted \(text)")
      } catch {
        #expect(error.diagnostics.map(\.line) == [2], "\(error.diagnostics)")
      }
    }
  }
}

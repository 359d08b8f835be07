import FlowsentryConfiguration
import Testing

/// `state_dir`: where rules keep what they learned, handed to the rule engine.
@Suite struct StateDirectoryTests {
  @Test func defaultsToVarLibFlowsentryAndReachesTheRuleEngine() throws {
    let defaults = try ConfigurationLoader.load(text: "stats_interval: 0\n", file: "c.yaml")
    #expect(defaults.stateDirectory == "/var/lib/flowsentry")
    #expect(defaults.pipeline.rules.stateDirectory == "/var/lib/flowsentry")
    let set = try ConfigurationLoader.load(text: "state_dir: /srv/flowsentry-state\n", file: "c.yaml")
    #expect(set.pipeline.rules.stateDirectory == "/srv/flowsentry-state")
    #expect(set.yaml.contains("state_dir: /srv/flowsentry-state"))
  }
}

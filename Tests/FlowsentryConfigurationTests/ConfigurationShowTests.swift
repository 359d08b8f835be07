import FlowsentryConfiguration
import FlowsentryForwarding
import Testing

/// `flowsentry config show` prints YAML that `--config` accepts: loading it back gives the same outputs.
@Suite struct ConfigurationShowTests {
  @Test func theShownOutputsLoadBackTheSame() throws {
    let text = """
      outputs:
        - url: syslog+tcp://127.0.0.1:5514
          name: siem
          batch: 64
          queue: 512
          spool_max_bytes: 1048576
          drain_timeout_ms: 1500
      """
    let settings = try ConfigurationLoader.load(text: text, file: "/etc/flowsentry/config.yaml")
    #expect(settings.outputs.first?.drainTimeoutMilliseconds == 1_500)
    let shown = try ConfigurationLoader.load(text: settings.yaml, file: "/etc/flowsentry/config.yaml")
    let before = try #require(settings.outputs.first)
    let after = try #require(shown.outputs.first)
    #expect(after.name == before.name)
    #expect(after.address == before.address)
    #expect(after.batchRecords == before.batchRecords)
    #expect(after.queueCapacity == before.queueCapacity)
    #expect(after.spool.maximumBytes == before.spool.maximumBytes)
    #expect(after.drainTimeoutMilliseconds == before.drainTimeoutMilliseconds)
  }
}

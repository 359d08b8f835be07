import FlowsentryConfiguration
import FlowsentryCore
import FlowsentryForwarding
import Foundation
import Testing

@Suite struct ConfigurationTests {
  static let complete = """
    cgroup: system.slice
    events: [flows, net_packet_dns]
    rules: [local-rules, /etc/flowsentry/extra]
    default_rules: false
    max_flows: 5000
    dns:
      ports: [53, 5353]
      cache_size: 2000
      pending_questions: 100
    ring_buffer_bytes: 1048576
    stats_interval: 10
    spool_dir: /srv/spool
    outputs:
      - stdout
      - url: syslog+tls://siem.example:6514
        name: siem
        format: ecs
        events: [flows]
        ca: /etc/ca.pem
        cert: /etc/client.pem
        key: /etc/client-key.pem
      - url: https://es.example
        profile: elasticsearch
        index: alerts
        api_key_env: ES_KEY
        headers: {X-Tenant: blue}

    """

  @Test func everyKeySetsWhatItSays() throws {
    let settings = try ConfigurationLoader.load(text: Self.complete, file: "/etc/flowsentry/config.yaml")
    #expect(settings.cgroup == "system.slice")
    #expect(settings.events == [.netFlowTCPBegin, .netFlowTCPEnd, .netPacketDNS])
    #expect(settings.rulePaths == ["/etc/flowsentry/local-rules", "/etc/flowsentry/extra"])
    #expect(settings.defaultRules == false)
    #expect(settings.pipeline.flows.maximumOpenFlows == 5000)
    #expect(settings.capture.dnsPorts == [53, 5353])
    #expect(settings.pipeline.dns.cache.capacity == 2000)
    #expect(settings.pipeline.dns.pendingQuestions == 100)
    #expect(settings.capture.ringBufferBytes == 1_048_576)
    #expect(settings.statsIntervalSeconds == 10)
    #expect(settings.spoolDirectory == "/srv/spool")
    #expect(settings.printsToStandardOutput)
    #expect(settings.outputs.count == 2)
    let siem = settings.outputs[0]
    #expect(siem.name == "siem")
    #expect(siem.kind == .syslogTLS)
    #expect(siem.format == .ecs)
    #expect(siem.events == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(siem.tls.caFile == "/etc/ca.pem")
    #expect(siem.tls.keyFile == "/etc/client-key.pem")
    let elastic = settings.outputs[1]
    #expect(elastic.http.profile == .elasticsearch)
    #expect(elastic.http.path == "/alerts/_bulk")
    #expect(elastic.http.apiKey == .environment("ES_KEY"))
    #expect(elastic.http.headers == ["X-Tenant": "blue"])
  }

  @Test func withoutAFileTheStagesDefaultsHold() throws {
    let settings = try ConfigurationLoader.load(text: "", file: "empty.yaml")
    let defaults = SensorConfiguration()
    #expect(settings.pipeline.flows.maximumOpenFlows == defaults.pipeline.flows.maximumOpenFlows)
    #expect(settings.capture.ringBufferBytes == defaults.capture.ringBufferBytes)
    #expect(settings.effectiveEvents == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(settings.outputs.isEmpty && settings.printsToStandardOutput)
  }

  @Test func whatShowPrintsLoadsBackToTheSameSettings() throws {
    let first = try ConfigurationLoader.load(text: Self.complete, file: "/etc/flowsentry/config.yaml")
    let second = try ConfigurationLoader.load(text: first.yaml, file: "/etc/flowsentry/config.yaml")
    #expect(second.yaml.split(separator: "\n").dropFirst() == first.yaml.split(separator: "\n").dropFirst())
    #expect(second.outputs == first.outputs)
  }

  @Test func everyProblemIsReportedAtItsPosition() {
    let text = """
      max_flows: lots
      dns:
        ports: [53, 70000]
        colour: red
      outputs:
        - url: syslog+tcp://collector
          token: hunter2
          batch: 0
        - url: kafka://broker
        - url: syslog+tcp://collector
          cert: /c.pem
        - 42
      surprise: 1

      """
    do {
      _ = try ConfigurationLoader.load(text: text, file: "config.yaml")
      Issue.record("a broken configuration loaded")
    } catch {
      let found = error.diagnostics.map { "\($0.line):\($0.column) \($0.message)" }
      let expected = [
        "1:12 max_flows takes an integer",
        "3:15 ports takes an integer from 1 to 65535",
        "4:3 unknown key 'colour' in dns",
        "7:5 secrets are never written out in the open",
        "8:5 batch takes 1 to 65536",
        "9:10 unknown output 'kafka'",
        "10:5 TLS keys (ca, cert, key, server_name, tls_verify) apply to syslog+tls and https only",
        "12:5 an output is 'stdout' or a mapping",
        "13:1 unknown key 'surprise'",
      ]
      #expect(found.count == expected.count, "\(found)")
      for (line, prefix) in zip(found, expected) { #expect(line.hasPrefix(prefix), "\(line)") }
      #expect(!error.description.contains("hunter2"))
      #expect(error.diagnostics.allSatisfy { $0.file == "config.yaml" })
      #expect(error.diagnostics.filter { $0.sourceLine == nil }.map(\.line) == [7])
      #expect(error.description.contains("max_flows: lots\n           ^"))
    }
  }

  @Test func yamlSyntaxErrorsArePositionedToo() {
    do {
      _ = try ConfigurationLoader.load(text: "outputs:\n  - url: [unclosed\n", file: "bad.yaml")
      Issue.record("broken YAML loaded")
    } catch {
      #expect(error.diagnostics.count == 1)
      #expect(error.diagnostics.first?.line ?? 0 >= 2)
      #expect(error.diagnostics.first?.message.hasPrefix("YAML") == true)
    }
  }
}

extension ConfigurationTests {
  /// Yams multiplies a base-60 integer's parts unchecked: `max_flows: 461168601842738790:4` trapped.
  @Test func aBaseSixtyNumberIsAnErrorNotATrap() {
    do {
      _ = try ConfigurationLoader.load(text: "max_flows: 461168601842738790:4\n", file: "config.yaml")
      Issue.record("the configuration loaded")
    } catch {
      #expect(error.diagnostics.map(\.message).contains { $0.hasPrefix("max_flows takes an integer") })
    }
  }
}

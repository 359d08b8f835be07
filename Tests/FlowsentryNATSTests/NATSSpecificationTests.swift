import FlowsentryConfiguration
import FlowsentryForwarding
import FlowsentryNATS
import Foundation
import Testing

@Suite struct NATSSpecificationTests {
  @Test func parsesServersSubjectAndCredentialFiles() throws {
    let configuration = try OutputSpecification.parse(
      "nats://n1.example:4222,[::1]:4223,n3?subject=fleet.{host}.{event}&creds_file=/etc/flowsentry/sensor.creds&ca=/ca.pem&events=flows"
    )
    #expect(configuration.kind == .nats)
    #expect(configuration.nats.urls == ["nats://n1.example:4222", "nats://[::1]:4223", "nats://n3:4222"])
    #expect(configuration.nats.credentials == .credentialsFile("/etc/flowsentry/sensor.creds"))
    #expect(configuration.tls.caFile == "/ca.pem")
    #expect(configuration.address == "nats://n1.example:4222,[::1]:4223,n3:4222")
    #expect(!configuration.events.isEmpty)
    #expect(try OutputSpecification.parse("nats://h:1").nats.subject?.text == "flowsentry.{host}.{event}")
    let token = try OutputSpecification.parse("nats://h:1?subject=a.b&token_file=/t")
    #expect(token.nats.credentials == .tokenFile("/t"))
    #expect(token.http.token == nil)
    let key = "U" + String(repeating: "A", count: 55)
    let nkey = try OutputSpecification.parse("nats://h:1?subject=a&nkey=\(key)&nkey_seed_file=/seed")
    #expect(nkey.nats.credentials == .nkeySeedFile(publicKey: key, path: "/seed"))
  }

  @Test func refusesWhatCannotWork() {
    for (spec, reason) in [
      ("nats://h:1?subject=a..b", "empty subject token"),
      ("nats://h:1?subject=a.*", "wildcards"),
      ("nats://h:1?subject=a.{nope}", "unknown placeholder"),
      ("nats://h:1?subject=a&token_env=T", "files only"),
      ("nats://h:1?subject=a&token=secret", "never written out"),
      ("nats://h:1?subject=a&nkey_seed_file=/s", "needs nkey"),
      ("nats://h:1?subject=a&token_file=/t&creds_file=/c", "one kind of NATS credentials"),
      ("nats://h:0?subject=a", "port"),
      ("syslog+tcp://h:1?subject=a", "unknown key"),
    ] {
      do {
        _ = try OutputSpecification.parse(spec)
        Issue.record("\(spec) was accepted (\(reason))")
      } catch {
        #expect(error.description.contains(reason), "\(spec): \(error)")
        #expect(!error.description.contains("token=secret"), "\(error)")
      }
    }
  }

  @Test func valuesBecomeOneTokenEach() throws {
    #expect(NATSSubjectTemplate.token("10.0.0.5") == "10%2E0%2E0%2E5")
    #expect(NATSSubjectTemplate.token("2001:db8::1") == "2001:db8::1")
    #expect(NATSSubjectTemplate.token("a b*>%") == "a%20b%2A%3E%25")
    #expect(NATSSubjectTemplate.token("") == "_")
    #expect(NATSSubjectTemplate.token("bücher") == "b%C3%BCcher")
    let template = try NATSSubjectTemplate("fleet.{host}.{severity}.{remote}.{name}")
    let subject = template.subject(
      .init(
        host: "web 1.lab", rule: "r", severity: "high", event: "alert", remote: "203.0.113.9", name: "*.evil.example"))
    #expect(subject == "fleet.web%201%2Elab.high.203%2E0%2E113%2E9.%2A%2Eevil%2Eexample")
    #expect(subject.split(separator: ".").count == 5)
  }
}

@Suite struct NATSConfigurationFileTests {
  @Test func anOutputsEntryTakesTheNATSKeys() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-nats-\(UUID().uuidString).yaml").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try """
    host: web-1.lab
    outputs:
      - url: nats://n1:4222,n2:4222
        subject: fleet.{host}.{severity}.{rule}
        creds_file: /etc/flowsentry/web-1.creds
        ack_timeout_ms: 2000
    """.write(toFile: path, atomically: true, encoding: .utf8)
    let settings = try ConfigurationLoader.load(path: path)
    #expect(settings.host == "web-1.lab")
    let output = try #require(settings.outputs.first)
    #expect(output.kind == .nats)
    #expect(output.nats.subject?.text == "fleet.{host}.{severity}.{rule}")
    #expect(output.nats.credentials == .credentialsFile("/etc/flowsentry/web-1.creds"))
    #expect(output.nats.acknowledgementTimeoutMilliseconds == 2_000)
    #expect(output.nats.urls == ["nats://n1:4222", "nats://n2:4222"])
  }
}

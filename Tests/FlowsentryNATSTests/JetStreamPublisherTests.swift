import FlowsentryNATS
import FlowsentryTestSupport
import Foundation
import Testing

/// The NATS client against a real nats-server with JetStream on loopback.
@Suite(.serialized) struct JetStreamPublisherTests {
  private func publisher(_ server: NATSServer, credentials: NATSConnectionOptions.Credentials = .none) throws
    -> JetStreamPublisher
  {
    var options = NATSConnectionOptions(servers: [server.url])
    options.credentials = credentials
    options.maximumReconnects = 2
    return try JetStreamPublisher(connection: NATSConnection(options), acknowledgementTimeoutMilliseconds: 2_000)
  }

  private func collect(_ publisher: JetStreamPublisher, count: Int) -> [JetStreamPublisher.Outcome] {
    var outcomes: [JetStreamPublisher.Outcome] = []
    _ = eventually(seconds: 10) {
      outcomes += publisher.takeResults()
      return outcomes.count >= count
    }
    return outcomes
  }

  @Test func publishesOnceByMessageIDAndReportsDuplicates() throws {
    try TestEnvironment.require(.natsServer)
    let server = try NATSServer()
    let client = try publisher(server)
    try client.addStream(JetStreamStreamSettings(name: "ALERTS", subjects: ["fs.>"]))
    for index in 0..<200 {
      try client.publishAsync(
        subject: "fs.alert.\(index % 7)", messageID: "id-\(index)", payload: Array("alert \(index)".utf8),
        token: UInt64(index))
    }
    let first = collect(client, count: 200)
    #expect(first.count == 200)
    #expect(first.allSatisfy { (try? $0.result.get().duplicate) == false })
    #expect(Set(first.map(\.token)) == Set(0..<200))
    #expect(try client.streamState("ALERTS").messages == 200)

    // The same ids again, as a sensor resending after a crash: every one a duplicate, stored once.
    for index in 0..<200 {
      try client.publishAsync(
        subject: "fs.alert.\(index % 7)", messageID: "id-\(index)", payload: Array("alert \(index)".utf8),
        token: UInt64(1_000 + index))
    }
    let second = collect(client, count: 200)
    #expect(second.count == 200)
    #expect(second.allSatisfy { (try? $0.result.get().duplicate) == true })
    let stored = try client.messages(stream: "ALERTS")
    #expect(stored.count == 200)
    #expect(Set(stored.compactMap(\.messageID)) == Set((0..<200).map { "id-\($0)" }))
    #expect(stored.first?.data == Array("alert 0".utf8))

    let synchronous = try client.publish(subject: "fs.alert.x", messageID: "id-5", payload: [1])
    #expect(synchronous.duplicate && synchronous.stream == "ALERTS")
  }

  @Test func aSubjectWithoutAStreamIsNeverAcknowledged() throws {
    try TestEnvironment.require(.natsServer)
    let server = try NATSServer()
    let client = try publisher(server)
    try client.addStream(JetStreamStreamSettings(name: "ALERTS", subjects: ["fs.>"]))
    try client.publishAsync(subject: "elsewhere.alert", messageID: "lost-1", payload: [1, 2, 3], token: 7)
    let outcomes = collect(client, count: 1)
    #expect(outcomes.count == 1)
    guard case .failure(let error)? = outcomes.first?.result else {
      Issue.record("a publish to a subject without a stream was acknowledged: \(outcomes)")
      return
    }
    #expect(error == .noStream(subject: "elsewhere.alert"))
    #expect(error.kind == "no_stream")
    #expect(throws: NATSError.noStream(subject: "elsewhere.alert")) {
      try client.publish(subject: "elsewhere.alert", messageID: "lost-2", payload: [1])
    }
  }

  @Test func aMessageOverMaxPayloadIsRefusedBeforeItIsSent() throws {
    try TestEnvironment.require(.natsServer)
    var settings = NATSServer.Settings()
    settings.maximumPayload = 4_096
    let server = try NATSServer(settings)
    let client = try publisher(server)
    #expect(client.connection.maximumPayload == 4_096)
    try client.addStream(JetStreamStreamSettings(name: "ALERTS", subjects: ["fs.>"]))
    #expect(throws: NATSError.payloadTooLarge(size: 10_000, maximum: 4_096)) {
      try client.publishAsync(
        subject: "fs.big", messageID: "big", payload: Array(repeating: 65, count: 10_000), token: 1)
    }
    #expect(client.inFlight == 0)
    #expect(try client.streamState("ALERTS").messages == 0)
  }

  @Test func wrongCredentialsAreAClearError() throws {
    try TestEnvironment.require(.natsServer)
    var settings = NATSServer.Settings()
    settings.authorization = "user: sensor, password: right-password"
    let server = try NATSServer(settings)
    let directory = server.directory
    let wrong = directory.appendingPathComponent("wrong").path
    try "sensor:wrong-password\n".write(toFile: wrong, atomically: true, encoding: .utf8)
    let right = directory.appendingPathComponent("right").path
    try "sensor:right-password\n".write(toFile: right, atomically: true, encoding: .utf8)
    do {
      _ = try publisher(server, credentials: .userPasswordFile(wrong))
      Issue.record("wrong credentials connected")
    } catch let error as NATSError {
      #expect(error.kind == "authentication", "\(error)")
      #expect(!error.description.contains("wrong-password"))
    }
    let client = try publisher(server, credentials: .userPasswordFile(right))
    try client.addStream(JetStreamStreamSettings(name: "ALERTS", subjects: ["fs.>"]))
    #expect(try client.publish(subject: "fs.a", messageID: "a", payload: [1]).sequence == 1)
    #expect(throws: NATSError.configuration("cannot read the secret file /nonexistent/token")) {
      _ = try publisher(server, credentials: .tokenFile("/nonexistent/token"))
    }
  }

  @Test func failsOverToAnotherServerOfTheList() throws {
    try TestEnvironment.require(.natsServer)
    let server = try NATSServer()
    var options = NATSConnectionOptions(servers: ["nats://127.0.0.1:\(NATSServer.freePort())", server.url])
    options.maximumReconnects = 2
    let connection = try NATSConnection(options)
    #expect(connection.isConnected)
    #expect(connection.connectedURL.contains(":\(server.port)"))
  }
}

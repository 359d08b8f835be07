import FlowsentryCore
import Testing

@testable import FlowsentryDNS

/// An answer names flows only when it answers a question a local socket asked, in that socket's
/// network namespace; everything else is counted and ignored.
@Suite struct QuestionMatchingTests {
  let client = Endpoint(IPAddress("10.0.0.2")!, 40_000)
  let server = Endpoint(IPAddress("192.0.2.53")!, 53)
  let answered = IPAddress("192.0.2.80")!

  func question(_ name: String = "www.fs.test", id: UInt16 = 7, type: UInt16 = 1) -> [UInt8] {
    var message = DNSMessageBuilder(id: id, flags: 0x0100, questions: 1, answers: 0)
    _ = message.name(name)
    message.u16(type)
    message.u16(1)
    return message.bytes
  }

  func answer(_ name: String = "www.fs.test", id: UInt16 = 7, type: UInt16 = 1) -> [UInt8] {
    var message = DNSMessageBuilder(id: id, flags: 0x8180, questions: 1, answers: 1)
    let owner = message.name(name)
    message.u16(type)
    message.u16(1)
    message.a(owner: owner, ttl: 300, [192, 0, 2, 80])
    return message.bytes
  }

  func packet(
    _ payload: [UInt8], hook: Hook, at time: Int64 = 0, from source: Endpoint, to destination: Endpoint,
    namespace: UInt64 = 1
  ) -> DNSPacketObservation {
    DNSPacketObservation(
      timestamp: time, hook: hook, source: source, destination: destination, transport: .udp,
      networkNamespace: namespace, messageLength: payload.count, payload: payload)
  }

  func names(_ enricher: inout DNSEnricher, namespace: UInt64 = 1, at time: Int64 = 1) -> [String] {
    var event = FlowEvent(
      name: .netFlowTCPBegin, timestamp: time, direction: .outgoing, source: client,
      destination: Endpoint(answered, 443), networkNamespace: namespace)
    enricher.enrich(&event)
    return event.destinationNames
  }

  @Test func anAnswerToOurQuestionNamesFlowsInItsNamespaceOnly() {
    var enricher = DNSEnricher()
    #expect(enricher.observe(packet(question(), hook: .egress, from: client, to: server)) == nil)
    let event = enricher.observe(packet(answer(), hook: .ingress, from: server, to: client))
    #expect(event?.answers.map(\.data) == ["192.0.2.80"])
    #expect(names(&enricher) == ["www.fs.test"])
    #expect(names(&enricher, namespace: 2) == [], "another namespace resolved nothing")
    #expect(enricher.counters.answered == 1 && enricher.counters.unsolicited == 0)
  }

  @Test func everyOtherAnswerIsCountedAndIgnored() {
    var enricher = DNSEnricher()
    _ = enricher.observe(packet(question(), hook: .egress, from: client, to: server))
    let otherPort = Endpoint(client.address, 40_001)
    let forgeries: [DNSPacketObservation] = [
      packet(answer(), hook: .ingress, from: server, to: otherPort),  // to a port that asked nothing
      packet(answer(id: 8), hook: .ingress, from: server, to: client),  // wrong transaction id
      packet(answer("evil.fs.test"), hook: .ingress, from: server, to: client),  // another question
      packet(answer(type: 28), hook: .ingress, from: server, to: client),  // another type
      packet(answer(), hook: .ingress, from: Endpoint(server.address, 5353), to: client),  // another server port
      packet(answer(), hook: .ingress, from: server, to: client, namespace: 2),  // another namespace
    ]
    for forgery in forgeries { #expect(enricher.observe(forgery) == nil) }
    #expect(enricher.counters.unsolicited == UInt64(forgeries.count))
    #expect(names(&enricher) == [])
    // The wrong guesses did not use up the question: the real answer still counts, once.
    #expect(enricher.observe(packet(answer("WWW.fs.TEST"), hook: .ingress, from: server, to: client)) != nil)
    #expect(enricher.observe(packet(answer(), hook: .ingress, from: server, to: client)) == nil)
    #expect(enricher.counters.answered == 1 && enricher.counters.unsolicited == UInt64(forgeries.count) + 1)
  }

  @Test func lateAnswersAndServedMessagesAreIgnored() {
    var configuration = DNSEnricher.Configuration()
    configuration.questionTimeoutNanoseconds = 1_000
    var enricher = DNSEnricher(configuration: configuration)
    _ = enricher.observe(packet(question(), hook: .egress, at: 0, from: client, to: server))
    #expect(enricher.observe(packet(answer(), hook: .ingress, at: 5_000, from: server, to: client)) == nil)
    #expect(enricher.counters.late == 1)
    // A local server's traffic: questions it received, answers it sent.
    _ = enricher.observe(packet(question(), hook: .ingress, from: client, to: server))
    _ = enricher.observe(packet(answer(), hook: .egress, from: server, to: client))
    #expect(enricher.counters.served == 2 && enricher.counters.cache.entries == 0)
  }

  @Test func pendingQuestionsAreBoundedAndEvictionsCounted() {
    var configuration = DNSEnricher.Configuration()
    configuration.pendingQuestions = 4
    var enricher = DNSEnricher(configuration: configuration)
    for id in 0..<6 { _ = enricher.observe(packet(question(id: UInt16(id)), hook: .egress, from: client, to: server)) }
    #expect(enricher.counters.questionsEvicted == 2 && enricher.counters.questionsPending == 4)
    #expect(enricher.observe(packet(answer(id: 0), hook: .ingress, from: server, to: client)) == nil)
    #expect(enricher.observe(packet(answer(id: 5), hook: .ingress, from: server, to: client)) != nil)
  }
}

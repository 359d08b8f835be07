import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules
import FlowsentryTestSupport
import Testing

/// A lookup nobody answers (a DNS firewall dropping it) is an event when its timeout passes, on the
/// pipeline's clock (any record's time, or the capture's tick), and the rules see it.
@Suite struct UnansweredLookupTests {
  let pipelineTests = PipelineTests()
  let second: Int64 = 1_000_000_000

  @Test func aLookupOfAListedDomainThatGetsNoAnswerAlertsOnceItsTimeoutPasses() throws {
    let pipeline = Pipeline(rules: try RuleLoader.load(paths: [shippedRules]))
    let sink = InMemoryEventSink()
    let question = pipelineTests.lookup("c2.flowsentry-selftest.invalid", at: 10 * second)[0]
    pipeline.process(question, to: sink)
    pipeline.process(.tick(42 * second), to: sink)
    #expect(sink.events.isEmpty && sink.alerts.isEmpty, "30 s is the default timeout, and 2 s for records out of order")

    pipeline.process(.tick(42 * second + 1), to: sink)
    #expect(sink.events.count == 1)
    guard case .dns(let event) = sink.events.first else {
      Issue.record("no DNS event: \(sink.events)")
      return
    }
    #expect(!event.answered && event.questions == ["c2.flowsentry-selftest.invalid"] && event.answers.isEmpty)
    #expect(event.timestamp == 40 * second)
    let alert = try #require(sink.alerts.first)
    #expect(sink.alerts.count == 1 && alert.ruleID == "FS-INTEL-002")
    #expect(alert.indicator?.indicator == "flowsentry-selftest.invalid")
    #expect(pipeline.counters.dns.questionsUnanswered == 1)

    pipeline.process(.tick(100 * second), to: sink)
    #expect(sink.events.count == 1, "reported once")
  }

  @Test func aRecordPastTheTimeoutReportsTheQuestionBeforeItsOwnEvents() throws {
    let pipeline = Pipeline()
    let sink = InMemoryEventSink()
    pipeline.process(pipelineTests.lookup("quiet.example", at: 0)[0], to: sink)
    pipeline.process(
      .socket(
        SocketStateChange(
          timestamp: 33 * second, transition: .established, direction: .outgoing, local: pipelineTests.client,
          remote: pipelineTests.web)), to: sink)
    #expect(sink.events.map(\.name) == [.netPacketDNS, .netFlowTCPBegin])
    #expect(sink.events.first.map { if case .dns(let dns) = $0 { !dns.answered } else { false } } == true)
  }

  /// The input's end (a replay's last file) gives up on every question still waiting, at the time
  /// its timeout would have passed (the configured one), as the timeout would have; answered ones
  /// stay unreported.
  @Test func theInputsEndReportsTheQuestionsStillWaitingAtTheirTimeout() throws {
    var configuration = Pipeline.Configuration()
    configuration.dns.questionTimeoutNanoseconds = 5 * second
    configuration.host = "sensor-a"
    let pipeline = Pipeline(configuration: configuration, rules: try RuleLoader.load(paths: [shippedRules]))
    let sink = InMemoryEventSink()
    for record in pipelineTests.lookup("www.example", at: 0) { pipeline.process(record, to: sink) }
    pipeline.process(pipelineTests.lookup("c2.flowsentry-selftest.invalid", at: second)[0], to: sink)
    #expect(sink.events.count == 1 && sink.alerts.isEmpty)

    pipeline.finishInput(to: sink)
    let unanswered = sink.events.compactMap { if case .dns(let dns) = $0, !dns.answered { dns } else { nil } }
    try #require(unanswered.count == 1, "\(sink.events)")
    #expect(unanswered[0].questions == ["c2.flowsentry-selftest.invalid"] && unanswered[0].answers.isEmpty)
    #expect(unanswered[0].timestamp == 6 * second && unanswered[0].host == "sensor-a")
    #expect(unanswered[0].source == pipelineTests.resolver && unanswered[0].destination == pipelineTests.client)
    #expect(sink.alerts.map(\.ruleID) == ["FS-INTEL-002"])
    #expect(pipeline.counters.dns.questionsUnanswered == 1 && pipeline.counters.dns.questionsPending == 0)

    pipeline.finishInput(to: sink)
    #expect(sink.events.count == 2, "nothing is left to report")
  }

  /// The monitor's stop: the questions still waiting, within their timeout, are reported at the
  /// stop in the order asked, and a listed one raises its alert on the way out.
  @Test func theMonitorsStopReportsTheQuestionsStillWaitingAtTheStop() throws {
    var configuration = Pipeline.Configuration()
    configuration.host = "sensor-a"
    let pipeline = Pipeline(configuration: configuration, rules: try RuleLoader.load(paths: [shippedRules]))
    let sink = InMemoryEventSink()
    pipeline.process(pipelineTests.lookup("c2.flowsentry-selftest.invalid", at: second)[0], to: sink)
    // Another socket of the client: `lookup` always asks with one port and id.
    var another = pipelineTests.lookup("quiet.example", at: 2 * second)[0]
    if case .dns(var packet) = another {
      packet.source = Endpoint(packet.source.address, 40_001)
      another = .dns(packet)
    }
    pipeline.process(another, to: sink)
    pipeline.process(.tick(3 * second), to: sink)
    #expect(sink.events.isEmpty && sink.alerts.isEmpty)

    pipeline.finishInput(at: 4 * second, to: sink)
    let unanswered = sink.events.compactMap { if case .dns(let dns) = $0, !dns.answered { dns } else { nil } }
    #expect(unanswered.count == sink.events.count)
    #expect(unanswered.map(\.questions) == [["c2.flowsentry-selftest.invalid"], ["quiet.example"]])
    #expect(unanswered.map(\.timestamp) == [4 * second, 4 * second])
    #expect(unanswered.allSatisfy { $0.host == "sensor-a" })
    #expect(sink.alerts.map(\.ruleID) == ["FS-INTEL-002"])
    #expect(pipeline.counters.dns.questionsUnanswered == 2 && pipeline.counters.dns.questionsPending == 0)
  }

  /// A flood of lookups past `dns.pending_questions` must not hide the lookup of a listed name: the
  /// question pushed out is reported by the record that pushed it, before that record's own events,
  /// and alerts at once.
  @Test func aLookupPushedOutByAFloodAlertsWhenItIsPushedOut() throws {
    var configuration = Pipeline.Configuration()
    configuration.dns.pendingQuestions = 4
    let pipeline = Pipeline(configuration: configuration, rules: try RuleLoader.load(paths: [shippedRules]))
    let sink = InMemoryEventSink()
    pipeline.process(pipelineTests.lookup("c2.flowsentry-selftest.invalid", at: second)[0], to: sink)
    for index in 0..<4 {
      // Other sockets of the client: `lookup` always asks with one port and id.
      var flood = pipelineTests.lookup("x\(index).example", at: 2 * second + Int64(index))[0]
      if case .dns(var packet) = flood {
        packet.source = Endpoint(packet.source.address, UInt16(40_001 + index))
        flood = .dns(packet)
      }
      pipeline.process(flood, to: sink)
      #expect(sink.events.count == (index < 3 ? 0 : 1), "pushed out by the fifth question, not before")
    }
    guard case .dns(let event) = sink.events.first else {
      Issue.record("no DNS event: \(sink.events)")
      return
    }
    #expect(!event.answered && event.questions == ["c2.flowsentry-selftest.invalid"])
    #expect(event.timestamp == 2 * second + 3, "dated when it was pushed out")
    #expect(sink.alerts.map(\.ruleID) == ["FS-INTEL-002"])
    #expect(pipeline.counters.dns.questionsEvicted == 1 && pipeline.counters.dns.questionsPending == 4)
  }

  @Test func anAnsweredLookupIsNeverReportedUnanswered() throws {
    let pipeline = Pipeline()
    let sink = InMemoryEventSink()
    for record in pipelineTests.lookup("www.example", at: 0) { pipeline.process(record, to: sink) }
    pipeline.process(.tick(3_600 * second), to: sink)
    #expect(sink.events.count == 1)
    #expect(sink.events.first.map { if case .dns(let dns) = $0 { dns.answered } else { false } } == true)
  }
}

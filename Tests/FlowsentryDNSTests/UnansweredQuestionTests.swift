import FlowsentryCore
import Testing

@testable import FlowsentryDNS

/// A question no answer comes to within the timeout is reported once, as its answer would have read;
/// an answer in time is never reported as missing, and one after the report counts as late.
@Suite struct UnansweredQuestionTests {
  let matching = QuestionMatchingTests()
  let second: Int64 = 1_000_000_000

  func enricher(timeout: Int64 = 30_000_000_000) -> DNSEnricher {
    var configuration = DNSEnricher.Configuration()
    configuration.questionTimeoutNanoseconds = timeout
    return DNSEnricher(configuration: configuration)
  }

  func ask(_ enricher: inout DNSEnricher, _ name: String, id: UInt16, at time: Int64, cgroupID: UInt64 = 0) {
    var packet = matching.packet(
      matching.question(name, id: id), hook: .egress, at: time, from: matching.client, to: matching.server)
    packet.cgroupID = cgroupID
    #expect(enricher.observe(packet) == nil)
  }

  /// The server's answer to `name` (transaction `id`) reaching `client` at `time`: the event it made,
  /// nil when the enricher refused it.
  func answer(
    _ enricher: inout DNSEnricher, _ name: String = "www.fs.test", id: UInt16 = 7, at time: Int64,
    to client: Endpoint? = nil
  ) -> DNSEvent? {
    enricher.observe(
      matching.packet(
        matching.answer(name, id: id), hook: .ingress, at: time, from: matching.server, to: client ?? matching.client))
  }

  func expire(_ enricher: inout DNSEnricher, at time: Int64) -> [DNSEvent] {
    var events: [DNSEvent] = []
    enricher.expireQuestions(at: time, into: &events)
    return events
  }

  @Test func aQuestionNoAnswerCameToIsReportedOnceWhenItsTimeoutPasses() throws {
    var enricher = enricher()
    #expect(enricher.nextQuestionExpiry == .max, "nothing waits: no record need look")
    ask(&enricher, "c2.fs.test", id: 9, at: 10 * second, cgroupID: 77)
    #expect(enricher.nextQuestionExpiry == 42 * second, "the timeout and 2 s for records out of order")
    #expect(expire(&enricher, at: 42 * second).isEmpty, "a record up to 2 s late may still hold its answer")
    let events = expire(&enricher, at: 42 * second + 1)
    let event = try #require(events.first)
    #expect(events.count == 1)
    #expect(!event.answered && event.answers.isEmpty && event.questions == ["c2.fs.test"])
    #expect(event.source == matching.server && event.destination == matching.client, "as its answer would read")
    #expect(event.timestamp == 40 * second && event.id == 9 && event.cgroupID == 77 && event.transport == .udp)
    #expect(expire(&enricher, at: 100 * second).isEmpty, "reported once")
    #expect(enricher.nextQuestionExpiry == .max)
    #expect(enricher.counters.questionsUnanswered == 1 && enricher.counters.questionsPending == 0)
    // Its answer, should it come after all, is late: refused, and not taken for a forgery.
    #expect(answer(&enricher, "c2.fs.test", id: 9, at: 101 * second) == nil)
    #expect(enricher.counters.late == 1 && enricher.counters.unsolicited == 0)
    #expect(matching.names(&enricher, at: 102 * second) == [])
  }

  @Test func anAnsweredQuestionIsNeverReportedAndTheOthersGoOldestFirst() {
    var enricher = enricher(timeout: 5 * second)
    ask(&enricher, "a.fs.test", id: 1, at: 1 * second)
    ask(&enricher, "www.fs.test", id: 7, at: 2 * second)
    ask(&enricher, "b.fs.test", id: 3, at: 3 * second)
    #expect(answer(&enricher, at: 2 * second + 1) != nil)
    #expect(expire(&enricher, at: 8 * second + 1).map(\.questions) == [["a.fs.test"]])
    #expect(expire(&enricher, at: 10 * second + 1).map(\.questions) == [["b.fs.test"]], "the answered one is skipped")
    #expect(enricher.counters.questionsUnanswered == 2 && enricher.counters.answered == 1)
  }

  /// A flood of lookups must not hide one a rule looks for: a question pushed out at the bound is
  /// reported at once (dated when it was pushed out), memory stays at the bound, and each question
  /// is reported once.
  @Test func aFloodOfQuestionsKeepsTheBoundAndReportsEveryQuestionOnce() throws {
    var configuration = DNSEnricher.Configuration()
    configuration.pendingQuestions = 8
    configuration.questionTimeoutNanoseconds = second
    var enricher = DNSEnricher(configuration: configuration)
    ask(&enricher, "c2.fs.test", id: 1000, at: 0)
    for id in 0..<7 { ask(&enricher, "x\(id).fs.test", id: UInt16(id), at: Int64(id + 1)) }
    #expect(enricher.nextQuestionExpiry == 3 * second, "nothing pushed out yet: the timeout and 2 s")
    ask(&enricher, "x7.fs.test", id: 7, at: 100)
    #expect(enricher.nextQuestionExpiry < 100, "the question pushed out is due at the next record")
    let early = expire(&enricher, at: 100)
    let event = try #require(early.first)
    #expect(early.count == 1 && event.questions == ["c2.fs.test"] && !event.answered && event.id == 1000)
    #expect(event.timestamp == 100, "dated when it was pushed out")
    #expect(enricher.counters.questionsEvicted == 1 && enricher.counters.questionsPending == 8)
    // Its answer, should it come, is late, not a forgery.
    #expect(answer(&enricher, "c2.fs.test", id: 1000, at: 200) == nil)
    #expect(enricher.counters.late == 1 && enricher.counters.unsolicited == 0)

    var reported = early.map(\.questions)
    for id in 8..<100 {
      ask(&enricher, "x\(id).fs.test", id: UInt16(id), at: Int64(id + 1))
      reported += expire(&enricher, at: Int64(id + 1)).map(\.questions)
      #expect(enricher.counters.questionsPending <= 8)
    }
    reported += expire(&enricher, at: 10 * second).map(\.questions)
    #expect(reported == [["c2.fs.test"]] + (0..<100).map { [["x\($0).fs.test"]] }.joined(), "each once, oldest first")
    #expect(enricher.counters.questionsEvicted == 93 && enricher.counters.questionsUnanswered == 8)
  }

  @Test func aQuestionPushedOutWhoseRetryWasAnsweredIsNotReported() {
    var configuration = DNSEnricher.Configuration()
    configuration.pendingQuestions = 2
    var enricher = DNSEnricher(configuration: configuration)
    ask(&enricher, "www.fs.test", id: 1, at: 0)
    ask(&enricher, "www.fs.test", id: 7, at: 10)
    #expect(answer(&enricher, id: 7, at: 20) != nil, "the retry's answer")
    ask(&enricher, "a.fs.test", id: 2, at: 30)
    ask(&enricher, "b.fs.test", id: 3, at: 40)
    #expect(expire(&enricher, at: 50).isEmpty)
    #expect(enricher.counters.questionsEvicted == 1 && enricher.counters.questionsAnsweredOnRetry == 1)
  }

  @Test func anAnswerInTimeThatComesAfterALaterRecordIsStillAccepted() {
    var enricher = enricher()
    ask(&enricher, "www.fs.test", id: 7, at: 0)
    #expect(expire(&enricher, at: 31 * second).isEmpty, "past the timeout, within the allowance")
    #expect(answer(&enricher, at: 30 * second) != nil)
    #expect(expire(&enricher, at: 100 * second).isEmpty)
    #expect(enricher.counters.answered == 1 && enricher.counters.questionsUnanswered == 0)
  }

  @Test func aQuestionDatedFarAheadDoesNotHoldBackTheOnesAfterIt() {
    var enricher = enricher()
    ask(&enricher, "future.fs.test", id: 1, at: 1_000 * second)
    ask(&enricher, "now.fs.test", id: 2, at: 10 * second)
    #expect(enricher.nextQuestionExpiry == 42 * second)
    let events = expire(&enricher, at: 43 * second)
    #expect(events.map(\.questions) == [["future.fs.test"], ["now.fs.test"]])
    #expect(events.map(\.timestamp) == [43 * second, 40 * second], "given up on now, and at its timeout")
    #expect(expire(&enricher, at: Int64.max).isEmpty && expire(&enricher, at: Int64.min).isEmpty)
  }

  /// The input's end (a replay's last file): every question still waiting is given up on, oldest
  /// first, at the time its timeout would have passed, whatever its time; none is left pending.
  @Test func theInputsEndGivesUpOnEveryQuestionStillWaiting() {
    var enricher = enricher()
    ask(&enricher, "first.fs.test", id: 1, at: 10 * second)
    ask(&enricher, "second.fs.test", id: 2, at: 11 * second)
    // No clock gets far enough past this one's timeout to give up on it: the end does all the same.
    ask(&enricher, "edge.fs.test", id: 3, at: Int64.max - second)
    var events: [DNSEvent] = []
    enricher.expireAllQuestions(into: &events)
    #expect(events.map(\.questions) == [["first.fs.test"], ["second.fs.test"], ["edge.fs.test"]])
    #expect(events.map(\.timestamp) == [40 * second, 41 * second, Int64.max])
    #expect(events.allSatisfy { !$0.answered && $0.source == matching.server && $0.destination == matching.client })
    #expect(enricher.counters.questionsUnanswered == 3 && enricher.counters.questionsPending == 0)
    #expect(enricher.nextQuestionExpiry == .max)
    events.removeAll()
    enricher.expireAllQuestions(into: &events)
    #expect(events.isEmpty, "reported once")
  }

  /// The monitor's stop: every question still waiting is given up on in the order asked, dated at
  /// the stop unless its timeout passed before it; an answered one is not among them.
  @Test func theMonitorsStopGivesUpOnTheQuestionsStillWaitingDatedAtTheStop() {
    var enricher = enricher()
    ask(&enricher, "timed-out.fs.test", id: 1, at: 20 * second)
    ask(&enricher, "www.fs.test", id: 7, at: 45 * second)
    ask(&enricher, "last.fs.test", id: 3, at: 50 * second)
    ask(&enricher, "again.fs.test", id: 4, at: 49 * second)
    #expect(answer(&enricher, at: 46 * second) != nil)
    var events: [DNSEvent] = []
    enricher.expireAllQuestions(at: 51 * second, into: &events)
    #expect(events.map(\.questions) == [["timed-out.fs.test"], ["last.fs.test"], ["again.fs.test"]])
    #expect(events.map(\.timestamp) == [50 * second, 51 * second, 51 * second])
    #expect(events.allSatisfy { !$0.answered && $0.answers.isEmpty && $0.destination == matching.client })
    #expect(enricher.counters.questionsUnanswered == 3 && enricher.counters.questionsPending == 0)
    events.removeAll()
    enricher.expireAllQuestions(at: 52 * second, into: &events)
    #expect(events.isEmpty, "reported once")
  }

  @Test func aQuestionWhoseRetryWasAnsweredIsNotReported() {
    var enricher = enricher()
    ask(&enricher, "www.fs.test", id: 1, at: 0)
    // The stub gave up on the first attempt and asked again, from another port with another id.
    let otherPort = Endpoint(matching.client.address, 40_001)
    let retry = matching.packet(
      matching.question("WWW.fs.test", id: 2), hook: .egress, at: 5 * second, from: otherPort, to: matching.server)
    #expect(enricher.observe(retry) == nil)
    #expect(answer(&enricher, "WWW.fs.test", id: 2, at: 5 * second + 1, to: otherPort) != nil)
    #expect(expire(&enricher, at: 100 * second).isEmpty)
    #expect(enricher.counters.questionsAnsweredOnRetry == 1 && enricher.counters.questionsUnanswered == 0)
    // Another name from the same client is not folded.
    ask(&enricher, "other.fs.test", id: 3, at: 101 * second)
    #expect(expire(&enricher, at: 200 * second).count == 1)
  }
}

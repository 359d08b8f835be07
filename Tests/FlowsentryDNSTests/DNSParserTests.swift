import FlowsentryCore
import Testing

@testable import FlowsentryDNS

@Suite struct DNSParserTests {
  /// www.example.test → CNAME edge.example.test → CNAME cdn.example.net → A 203.0.113.10, AAAA 2001:db8::10
  static func chainResponse(ttl: UInt32 = 300) -> [UInt8] {
    var message = DNSMessageBuilder(answers: 4)
    let question = message.question("WWW.Example.test")
    let edge = message.cname(owner: question, ttl: ttl, target: "edge.example.test")
    let cdn = message.cname(owner: edge, ttl: ttl, target: "cdn.example.net")
    message.a(owner: cdn, ttl: ttl, [203, 0, 113, 10])
    message.aaaa(owner: cdn, ttl: ttl, [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [0x10])
    return message.bytes
  }

  @Test func readsQuestionsAnswersAndCompressedNames() throws {
    let message = try DNSParser.parse(Self.chainResponse())
    #expect(message.id == 0x1234 && message.isResponse && message.responseCode == 0)
    #expect(message.questions == ["www.example.test"])
    #expect(
      message.answers.map(\.data) == [
        .canonicalName("edge.example.test"), .canonicalName("cdn.example.net"),
        .address(IPAddress("203.0.113.10")!), .address(IPAddress("2001:db8::10")!),
      ])
    #expect(
      message.answers.map(\.name) == ["www.example.test", "edge.example.test", "cdn.example.net", "cdn.example.net"])
    #expect(!message.incomplete)
  }

  @Test func skipsOtherTypesAndClasses() throws {
    var message = DNSMessageBuilder(answers: 3)
    let question = message.question("mail.example.test")
    message.pointer(to: question)
    message.recordHeader(type: 15, ttl: 60, length: 3)  // MX, its data skipped unread
    message.bytes += [0, 10, 0]
    message.pointer(to: question)
    message.u16(1)
    message.u16(3)  // class CH
    message.u32(60)
    message.u16(4)
    message.bytes += [1, 2, 3, 4]
    message.a(owner: question, ttl: 60, [198, 51, 100, 1])
    let parsed = try DNSParser.parse(message.bytes)
    #expect(parsed.answers.map(\.data) == [.address(IPAddress("198.51.100.1")!)])
  }

  @Test func compressionLoopsAreRejected() {
    var selfLoop = DNSMessageBuilder()
    selfLoop.pointer(to: 12)  // the question's name points at itself
    #expect(throws: DNSParseError.compressionLoop) { try DNSParser.parse(selfLoop.bytes) }

    var forward = DNSMessageBuilder()
    forward.pointer(to: 14)  // points forward, to a label that points back
    forward.pointer(to: 12)
    #expect(throws: DNSParseError.compressionLoop) { try DNSParser.parse(forward.bytes) }
  }

  @Test func pointersOutsideTheMessageAreRejected() {
    var message = DNSMessageBuilder()
    message.u16(0xc000 | 0x3fff)
    #expect(throws: DNSParseError.pointerOutOfBounds) { try DNSParser.parse(message.bytes) }
  }

  @Test func truncatedMessages() throws {
    #expect(throws: DNSParseError.truncatedHeader) { try DNSParser.parse([0x12, 0x34, 0x81]) }
    let full = Self.chainResponse()
    // Cut inside the question: the message is unusable.
    #expect(throws: DNSParseError.truncatedSection) { try DNSParser.parse(Array(full.prefix(20))) }
    // Cut inside the last answer: the answers before it are kept, and the cut is reported.
    let cut = try DNSParser.parse(Array(full.dropLast(5)))
    #expect(cut.answers.count == 3 && cut.incomplete)
  }

  @Test func bogusCountsAreBoundedByTheBytes() throws {
    var message = DNSMessageBuilder(questions: 1, answers: 0xffff)
    let question = message.question("x.test")
    message.a(owner: question, ttl: 1, [192, 0, 2, 1])
    let parsed = try DNSParser.parse(message.bytes)
    #expect(parsed.answers.count == 1 && parsed.incomplete)
    var questions = DNSMessageBuilder(questions: 0xffff)
    questions.name("only.one.test")
    questions.u16(1)
    questions.u16(1)
    #expect(throws: DNSParseError.truncatedSection) { try DNSParser.parse(questions.bytes) }
  }

  @Test func oversizedNamesAndLabels() {
    var long = DNSMessageBuilder()
    for _ in 0..<5 {
      long.bytes.append(63)
      long.bytes += [UInt8](repeating: UInt8(ascii: "a"), count: 63)
    }
    long.bytes.append(0)
    long.u16(1)
    long.u16(1)
    #expect(throws: DNSParseError.nameTooLong) { try DNSParser.parse(long.bytes) }

    var extended = DNSMessageBuilder()
    extended.bytes.append(0x41)  // an extended label type
    #expect(throws: DNSParseError.badLabel) { try DNSParser.parse(extended.bytes) }
  }

  @Test func unusualBytesInLabelsAreEscaped() throws {
    var message = DNSMessageBuilder()
    message.bytes += [3, UInt8(ascii: "a"), UInt8(ascii: "."), 0x07, 4] + Array("test".utf8) + [0]
    message.u16(1)
    message.u16(1)
    #expect(try DNSParser.parse(message.bytes).questions == ["a\\046\\007.test"])
  }

  @Test func negativeTTLsCountAsZero() throws {
    var message = DNSMessageBuilder(answers: 1)
    let question = message.question("x.test")
    message.a(owner: question, ttl: 0x8000_0001, [192, 0, 2, 1])
    #expect(try DNSParser.parse(message.bytes).answers.first?.timeToLive == 0)
  }
}

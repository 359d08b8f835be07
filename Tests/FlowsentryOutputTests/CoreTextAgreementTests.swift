import FlowsentryCore
import Testing

@testable import FlowsentryOutput

/// Core's JSONText and RFC3339 (for logs and forwarding) and the event writer's in-place copies
/// must write the same bytes, or an event and a log line would quote or date differently.
@Suite struct CoreTextAgreementTests {
  @Test func jsonTextQuotesEveryByteAsTheEventWriterDoes() {
    let every = String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self) + "é\u{2028}😀\"\\"
    for text in [every, "", "plain", "\u{7f}\u{1f}\n\r\t"] {
      var writer = JSONBytes(bytes: [])
      writer.string(text)
      #expect(JSONText.quoted(text) == writer.bytes, "\(text.debugDescription)")
    }
  }

  @Test(arguments: [
    Int64(0), -1, 1, 999_999_999, 1_700_000_000_123_456_789, 4_102_444_799_999_999_999, -1_000_000_000_000_000_000,
  ])
  func rfc3339IsTheEventWritersTime(nanoseconds: Int64) {
    var writer = JSONBytes(bytes: [])
    writer.rfc3339(nanoseconds: nanoseconds)
    #expect(Array(RFC3339.format(nanoseconds: nanoseconds).utf8) == writer.bytes)
  }
}

import Foundation
import Testing

@testable import FlowsentryRules

/// `rules lookup` prints values a report or a feed supplied: on a line, an escape seen must be one
/// the sensor wrote; in JSON, the value must come back as given, escaped once.
@Suite struct LookupEscapingTests {
  @Test func aValueHoldingALiteralEscapeIsQuotedAndItsBackslashEscaped() {
    #expect(IndicatorListing.terminalSafe("a\\u{1B}b") == "\"a\\\\u{1B}b\"")
    #expect(IndicatorListing.terminalSafe("a\u{1B}b") == "\"a\\u{1B}b\"")
    #expect(IndicatorListing.terminalSafe("say \"hi\"") == "\"say \\\"hi\\\"\"")
    #expect(IndicatorListing.terminalSafe("evil.example") == "evil.example")
  }

  @Test func marksAndLineSeparatorsAreEscapedOnALine() {
    let listing = IndicatorListing(
      value: "bad.example", list: "zeek", type: .domain, indicator: "bad.example",
      source: "vendor\u{2028}\u{200E}x")
    let line = listing.description
    #expect(line == "bad.example: in zeek as bad.example from \"vendor\\u{2028}\\u{200E}x\"")
  }

  @Test func jsonEscapesABackslashOnceAndTheSeparatorsAndRoundTrips() throws {
    let value = "a\\u{1B}\u{2028}\u{2029}\u{200E}\u{200F}\u{061C}b"
    let line = IndicatorListing.jsonLine(value: value, listings: [])
    #expect(line == "{\"value\":\"a\\\\u{1B}\\u2028\\u2029\\u200e\\u200f\\u061cb\",\"listed\":false,\"lists\":[]}")
    #expect(!line.unicodeScalars.contains { $0.value > 0x7E })
    let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    #expect(object["value"] as? String == value)
  }
}

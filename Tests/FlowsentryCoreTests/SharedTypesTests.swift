import FlowsentryCore
import Testing

@Suite struct SharedTypesTests {
  @Test(arguments: [
    ("127.0.0.1:9464", "127.0.0.1", 9464), ("[::1]:9464", "::1", 9464), ("[2001:db8::7]:0", "2001:db8::7", 0),
    ("sensor.example:65535", "sensor.example", 65535),
  ])
  func hostAndPortParses(text: String, host: String, port: Int) throws {
    let parsed = try #require(HostAndPort.parse(text))
    #expect(parsed.host == host && parsed.port == port)
    // And writes back as it was read.
    #expect(HostAndPort.text(host: parsed.host, port: parsed.port) == text)
  }

  @Test(arguments: ["", ":9464", "[]:9464", "[::1:9464", "host", "host:65536", "host:-1", "host:port"])
  func hostAndPortRefuses(text: String) {
    #expect(HostAndPort.parse(text) == nil)
  }

  @Test func endpointsBracketIPv6() {
    #expect(Endpoint(IPAddress("2001:db8::1")!, 443).description == "[2001:db8::1]:443")
    #expect(Endpoint(IPAddress("198.51.100.1")!, 80).description == "198.51.100.1:80")
  }

  @Test func severityRanksFromInfoToCritical() {
    #expect(Severity.allCases.map(\.rank) == [0, 1, 2, 3, 4])
    #expect(Severity.allCases.sorted() == Severity.allCases)
    #expect(Severity.info < .low && .high < .critical)
    #expect(Severity(rawValue: "critical") == .critical && Severity(rawValue: "Critical") == nil)
  }

  @Test func jsonTextEscapesControlCharactersAndQuotes() {
    #expect(String(decoding: JSONText.quoted("a\"b\\c\n\u{1}"), as: UTF8.self) == #""a\"b\\c\n\u0001""#)
  }

  @Test func theMonotonicClockMovesForward() {
    let first = MonotonicClock.nanoseconds()
    let second = MonotonicClock.nanoseconds()
    #expect(first > 0 && second >= first)
  }
}

import Testing

@testable import FlowsentryCore

@Suite struct IPAddressTests {
  @Test(arguments: [
    ("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("::", "::"),
    ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"),
    ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"), ("fe80::1:2", "fe80::1:2"),
    ("::ffff:203.0.113.7", "::ffff:203.0.113.7"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
  ])
  func parsesAndPrintsCanonicalText(input: String, canonical: String) throws {
    let address = try #require(IPAddress(input))
    #expect(address.description == canonical)
    #expect(IPAddress(canonical) == address)
  }

  @Test(arguments: ["", "1.2.3", "1.2.3.256", "1.2.3.4.5", ":::", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "a.b.c.d"])
  func rejectsMalformedText(input: String) {
    #expect(IPAddress(input) == nil)
  }

  @Test func buildsFromNetworkOrderBytes() {
    #expect(IPAddress(bytes: [203, 0, 113, 9]) == IPAddress("203.0.113.9"))
    #expect(IPAddress(bytes: [UInt8](repeating: 0, count: 15) + [1]) == IPAddress("::1"))
    #expect(IPAddress(bytes: [1, 2, 3]) == nil)
  }

  @Test func endpointsBracketIPv6() {
    #expect(Endpoint(IPAddress("::1")!, 80).description == "[::1]:80")
    #expect(Endpoint(IPAddress("127.0.0.1")!, 80).description == "127.0.0.1:80")
  }
}

@Suite struct EventSelectionTests {
  @Test func namesAndSetsCombine() throws {
    #expect(try EventName.selection(from: "flows") == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(try EventName.selection(from: "net_flow_tcp_end") == [.netFlowTCPEnd])
    #expect(
      try EventName.selection(from: "net_flow_tcp_end, net_flow_tcp_begin") == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(
      try EventName.selection(from: "flows,net_packet_dns,net_flow_tcp_half_open,net_flow_tcp_update")
        == Set(EventName.allCases))
    #expect(try EventName.selection(from: "network_events") == Set(EventName.allCases))
  }

  @Test func unknownNamesAreNamedInTheError() {
    #expect(throws: EventSelectionError.self) { try EventName.selection(from: "flows,net_flow_udp") }
    do {
      _ = try EventName.selection(from: "bogus")
      Issue.record("an unknown event name was accepted")
    } catch {
      #expect(error.description.contains("'bogus'"))
      #expect(error.description.contains("net_flow_tcp_begin"))
    }
    #expect(throws: EventSelectionError.self) { try EventName.selection(from: " , ") }
  }
}

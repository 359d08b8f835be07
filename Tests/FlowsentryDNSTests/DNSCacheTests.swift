import FlowsentryCore
import Testing

@testable import FlowsentryDNS

@Suite struct DNSCacheTests {
  let second: Int64 = 1_000_000_000
  let cdn4 = IPAddress("203.0.113.10")!
  let cdn6 = IPAddress("2001:db8::10")!

  @Test func namesTheChainFromTheQueryToTheAddress() throws {
    var cache = DNSCache()
    cache.insert(try DNSParser.parse(DNSParserTests.chainResponse()), at: 0)
    let chain = ["www.example.test", "edge.example.test", "cdn.example.net"]
    #expect(cache.names(for: cdn4, at: second) == chain)
    #expect(cache.names(for: cdn6, at: second) == chain)
    #expect(cache.names(for: IPAddress("198.51.100.99")!, at: second) == [])
    #expect(cache.counters.hits == 2 && cache.counters.misses == 1 && cache.counters.addressesInserted == 2)
  }

  @Test func expiredEntriesAreNotUsed() throws {
    var configuration = DNSCache.Configuration()
    configuration.graceNanoseconds = 2 * second
    var cache = DNSCache(configuration: configuration)
    cache.insert(try DNSParser.parse(DNSParserTests.chainResponse(ttl: 5)), at: 0)
    #expect(!cache.names(for: cdn4, at: 6 * second).isEmpty)  // within TTL + grace
    #expect(cache.names(for: cdn4, at: 7 * second).isEmpty)
    #expect(cache.counters.expired == 1 && cache.counters.entries == 1)
  }

  @Test func aFullCacheEvictsTheLeastRecentlyUsed() throws {
    var configuration = DNSCache.Configuration()
    configuration.capacity = 2
    var cache = DNSCache(configuration: configuration)
    func answer(_ name: String, _ last: UInt8) throws -> DNSMessage {
      var message = DNSMessageBuilder(answers: 1)
      let question = message.question(name)
      message.a(owner: question, ttl: 300, [198, 51, 100, last])
      return try DNSParser.parse(message.bytes)
    }
    cache.insert(try answer("one.test", 1), at: 0)
    cache.insert(try answer("two.test", 2), at: 0)
    #expect(cache.names(for: IPAddress("198.51.100.1")!, at: 1) == ["one.test"])  // one is now recent
    cache.insert(try answer("three.test", 3), at: 0)
    #expect(cache.names(for: IPAddress("198.51.100.2")!, at: 1) == [])
    #expect(cache.names(for: IPAddress("198.51.100.1")!, at: 1) == ["one.test"])
    #expect(cache.counters.evictions == 1 && cache.counters.entries == 2)
  }

  @Test func sharedAddressesKeepTheMostRecentNamesFirst() throws {
    var cache = DNSCache()
    for name in ["a.test", "b.test", "a.test"] {
      var message = DNSMessageBuilder(answers: 1)
      let question = message.question(name)
      message.a(owner: question, ttl: 300, [198, 51, 100, 7])
      cache.insert(try DNSParser.parse(message.bytes), at: 0)
    }
    #expect(cache.names(for: IPAddress("198.51.100.7")!, at: 1) == ["a.test", "b.test"])
  }

  @Test func errorsAndQueriesAreIgnored() throws {
    var cache = DNSCache()
    var message = try DNSParser.parse(DNSParserTests.chainResponse())
    message.responseCode = 3
    cache.insert(message, at: 0)
    message.responseCode = 0
    message.isResponse = false
    cache.insert(message, at: 0)
    #expect(cache.names(for: cdn4, at: 1).isEmpty && cache.counters.responses == 0)
  }

  @Test func cnameLoopsInAnswersEnd() throws {
    var message = DNSMessageBuilder(answers: 3)
    let question = message.question("loop.test")
    let other = message.cname(owner: question, ttl: 60, target: "other.test")
    _ = message.cname(owner: other, ttl: 60, target: "loop.test")
    message.a(owner: other, ttl: 60, [192, 0, 2, 9])
    var cache = DNSCache()
    cache.insert(try DNSParser.parse(message.bytes), at: 0)
    #expect(cache.names(for: IPAddress("192.0.2.9")!, at: 1) == ["loop.test", "other.test"])
  }
}

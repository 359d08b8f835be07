import FlowsentryCore
import Testing

@testable import FlowsentryIntel

@Suite struct FingerprintFilterTests {
  @Test func everyInsertedFingerprintPassesAndFewOthersDo() throws {
    let count = 100_000
    let filter = try #require(FingerprintFilter(capacity: count))
    var random = SeededRandom(seed: 7)
    let inserted = (0..<count).map { _ in UInt32(truncatingIfNeeded: random.next()) }
    for fingerprint in inserted { filter.insert(fingerprint) }
    #expect(inserted.allSatisfy { filter.mayContain($0) })
    let listed = Set(inserted)
    var passed = 0
    var tried = 0
    while tried < 200_000 {
      let other = UInt32(truncatingIfNeeded: random.next())
      guard !listed.contains(other) else { continue }
      tried += 1
      if filter.mayContain(other) { passed += 1 }
    }
    // 16 bits a fingerprint in 512-bit blocks with one bit in each of 8 words: well under 2%.
    #expect(passed < tried / 50, "\(passed) of \(tried) unlisted fingerprints passed")
    #expect(filter.memoryBytes == (count * FingerprintFilter.bitsPerString + 511) / 512 * 64)
  }

  @Test func aBuiltDomainListHasAFilterAndAnswersAsBefore() throws {
    // Enough names that most queries are decided by the filter alone; every listed name, its
    // subdomains and names that only end alike are checked against the set's answer.
    let names = (0..<20_000).map { "host\($0 * 7).example\($0 % 97).test" }
    var builder = IntelListBuilder(name: "domains", type: .domain, domainMatch: .suffix)
    try builder.loadFeed(names.joined(separator: "\n"), file: "d.txt", format: .lines)
    let list = builder.build()
    #expect(list.domains.filterBytes > 0)
    for name in names {
      #expect(list.contains(domain: name))
      #expect(list.contains(domain: "a.b." + name.uppercased()))
      #expect(!list.contains(domain: "x" + name))
    }
    #expect(!list.contains(domain: "example0.test"))
    #expect(list.match(domain: "deep.host7.example1.test")?.indicator == "host7.example1.test")
  }

  @Test func aStringListHasAFilterAndAnswersAsBefore() throws {
    let strings = (0..<5_000).map { "Agent/\($0)" }
    var builder = IntelListBuilder(name: "agents", type: .string)
    try builder.loadFeed(strings.joined(separator: "\n"), file: "s.txt", format: .lines)
    let list = builder.build()
    #expect(list.strings.filterBytes > 0)
    #expect(strings.allSatisfy { list.contains(string: $0) })
    #expect(!list.contains(string: "agent/1"))
    #expect(!list.contains(string: "Agent/5000"))
  }
}

/// A lookup stops at the deepest label count a list holds, and an empty list answers without hashing.
@Suite struct DomainLookupDepthTests {
  func list(_ names: [String], _ match: DomainMatch) throws -> IntelList {
    var builder = IntelListBuilder(name: "domains", type: .domain, domainMatch: match)
    try builder.loadFeed(names.joined(separator: "\n"), file: "d.txt", format: .lines)
    return builder.build()
  }

  @Test func namesDeeperThanAnyListedOneMatchTheirListedParents() throws {
    let suffixes = try list(["example.com", "a.b.c.example.com"], .suffix)
    #expect(suffixes.match(domain: "x.y.z.a.b.c.example.com")?.indicator == "a.b.c.example.com")
    #expect(suffixes.match(domain: "x.y.z.q.b.c.example.com")?.indicator == "example.com")
    #expect(!suffixes.contains(domain: "x.y.z.a.b.c.example.org"))
    let exact = try list(["b.example.com"], .exact)
    #expect(exact.contains(domain: "B.example.com."))
    #expect(!exact.contains(domain: "a.b.example.com"))
    #expect(!exact.contains(domain: "example.com"))
  }

  @Test func aNameOfSixtyFourLabelsOrMoreIsStillFound() throws {
    // 67 labels: the walk cannot stop early, since bit 63 stands for every count from 64 up.
    let deep = Array(repeating: "a", count: 66).joined(separator: ".") + ".test"
    let suffixes = try list([deep], .suffix)
    #expect(suffixes.count == 1)
    #expect(suffixes.contains(domain: "x." + deep))
    #expect(!suffixes.contains(domain: "b." + deep.dropFirst(2)))
  }

  @Test func anEmptyListMatchesNothing() throws {
    let empty = try list([], .suffix)
    #expect(empty.count == 0)
    #expect(!empty.contains(domain: "example.com"))
    #expect(!empty.contains(domain: ""))
  }
}

@Suite struct IPv4BlockDescriptionTests {
  @Test func writesWhatTheAddressDescriptionWrites() {
    var random = SeededRandom(seed: 11)
    var networks: [UInt32] = [0, .max, 0x0a00_0000, 0xc000_02fe, 0x6464_0a0a]
    for _ in 0..<10_000 { networks.append(UInt32(truncatingIfNeeded: random.next())) }
    for (index, network) in networks.enumerated() {
      let length = UInt8(index % 33)
      #expect(IntelList.describeIPv4Block(network, length: length) == "\(IPAddress.v4(network))/\(length)")
    }
  }
}

import FlowsentryCore
import Testing

@testable import FlowsentryIntel

@Suite struct DomainMatchingTests {
  func list(_ names: [String], _ match: DomainMatch) throws -> IntelList {
    var builder = IntelListBuilder(name: "domains", type: .domain, domainMatch: match)
    try builder.loadFeed(names.joined(separator: "\n"), file: "d.txt", format: .lines)
    return builder.build()
  }

  @Test func suffixMatchesAtLabelBoundariesOnly() throws {
    let domains = try list(["evil.com"], .suffix)
    for name in ["evil.com", "a.evil.com", "x.y.evil.com", "EVIL.COM", "A.Evil.Com.", "evil.com."] {
      #expect(domains.contains(domain: name), "\(name)")
    }
    for name in ["notevil.com", "com", "evil.co", "evil.com.au", "evil", "a-evil.com", "", ".", "evilcom"] {
      #expect(!domains.contains(domain: name), "\(name)")
    }
    #expect(domains.match(domain: "deep.A.EVIL.com")?.indicator == "evil.com")
  }

  @Test func exactMatchesTheNameOnly() throws {
    let domains = try list(["Evil.Com."], .exact)
    #expect(domains.contains(domain: "evil.com"))
    #expect(domains.contains(domain: "EVIL.COM."))
    #expect(!domains.contains(domain: "a.evil.com"))
    #expect(!domains.contains(domain: "com"))
  }

  @Test func theMostSpecificListedNameIsReported() throws {
    let domains = try list(["evil.com", "a.evil.com"], .suffix)
    #expect(domains.match(domain: "x.a.evil.com")?.indicator == "a.evil.com")
    #expect(domains.match(domain: "x.b.evil.com")?.indicator == "evil.com")
    #expect(domains.match(domain: "x.a.evil.com")?.line == 2)
  }

  @Test func punycodeIsComparedAsOnTheWire() throws {
    var builder = IntelListBuilder(name: "idn", type: .domain, domainMatch: .suffix)
    try builder.loadFeed("xn--bcher-kva.example\nbücher.example\n", file: "idn.txt", format: .lines)
    let domains = builder.build()
    #expect(domains.contains(domain: "XN--BCHER-KVA.example"))
    #expect(domains.contains(domain: "shop.xn--bcher-kva.example."))
    #expect(!domains.contains(domain: "bücher.example"))
    #expect(domains.statistics.malformed == 1)
    #expect(domains.diagnostics.first?.message.contains("punycode") == true)
  }

  @Test func duplicatesAreCountedAndTheFirstKept() throws {
    let domains = try list(["evil.com", "EVIL.com.", "Evil.Com", "other.com"], .suffix)
    #expect(domains.count == 2)
    #expect(domains.statistics.duplicates == 2)
    #expect(domains.match(domain: "evil.com")?.line == 1)
  }

  @Test(arguments: [
    "a..com", ".com", "a_b.com!", "a/b.com", String(repeating: "a", count: 64) + ".com",
    Array(repeating: "abcdefghi", count: 26).joined(separator: "."), "*.evil.com", "evil.com:443",
  ])
  func malformedNamesAreRefused(name: String) throws {
    var builder = IntelListBuilder(name: "d", type: .domain)
    try builder.loadFeed(name + "\n", file: "d.txt", format: .lines)
    #expect(builder.statistics.malformed == 1)
    #expect(builder.build().count == 0)
  }

  @Test func aQueryWithAnEmptyLabelMatchesOnlyRightOfIt() throws {
    let domains = try list(["evil.com", "a.b.com"], .suffix)
    #expect(domains.contains(domain: "x..evil.com"))
    #expect(!domains.contains(domain: "a..b.com"))
  }

  /// Many names through table growth: every listed name, its subdomains and its near misses answer as
  /// a plain `Set` says they should.
  @Test func agreesWithASetOverManyNames() throws {
    var generator = SystemRandomNumberGenerator()
    func label() -> String {
      String(
        (0..<Int.random(in: 1...12, using: &generator)).map { _ in
          "abcdefghijklmnopqrstuvwxyz0123456789-".randomElement(using: &generator)!
        })
    }
    var listed = Set<String>()
    while listed.count < 5_000 {
      listed.insert((0..<Int.random(in: 1...4)).map { _ in label() }.joined(separator: "."))
    }
    // Inline items, the one way a single-label name (1 in 4 here) still enters a suffix list.
    var builder = IntelListBuilder(name: "domains", type: .domain, domainMatch: .suffix)
    for (index, name) in listed.enumerated() { builder.addItem(name, file: "rules.yaml", line: index + 1, column: 1) }
    let domains = builder.build()
    #expect(domains.count == listed.count)
    func expectedSuffixMatch(_ name: String) -> Bool {
      let labels = name.split(separator: ".", omittingEmptySubsequences: false)
      return labels.indices.contains { listed.contains(labels[$0...].joined(separator: ".")) }
    }
    for name in listed.prefix(2_000) {
      #expect(domains.contains(domain: name.uppercased()))
      let child = label() + "." + name
      #expect(domains.contains(domain: child))
      let sibling = "x" + name
      #expect(domains.contains(domain: sibling) == expectedSuffixMatch(sibling))
    }
    for _ in 0..<2_000 {
      let name = label() + "." + label()
      #expect(domains.contains(domain: name) == expectedSuffixMatch(name))
    }
  }

  /// A list of few top-level labels (a host without feeds: its self-test items) answers a name under
  /// any other top-level label after hashing that label alone; the names under its own, in any case
  /// and with a trailing dot, still answer as the model says, and one listed top-level label (`top`,
  /// a single-label item) matches every name under it.
  @Test func aListOfFewTopLevelLabelsAnswersAsAModelDoes() throws {
    var builder = IntelListBuilder(name: "few", type: .domain, domainMatch: .suffix)
    let listed = ["flowsentry-selftest.invalid", "a.b.example", "top"]
    for (index, name) in listed.enumerated() { builder.addItem(name, file: "rules.yaml", line: index + 1, column: 1) }
    let domains = builder.build()
    func expected(_ name: String) -> Bool {
      var labels = name.lowercased().split(separator: ".", omittingEmptySubsequences: false)
      if labels.count > 1 && labels.last == "" { labels.removeLast() }
      return labels.indices.contains { listed.contains(labels[$0...].joined(separator: ".")) }
    }
    var generator = SystemRandomNumberGenerator()
    let tops = ["invalid", "INVALID", "example", "Example", "top", "TOP", "com", "org", "net", "cn", "xyz", "invalid2"]
    let middles = ["flowsentry-selftest", "FlowSentry-SelfTest", "b", "a.b", "x.b", "evil", "c2"]
    for _ in 0..<5_000 {
      var name = [middles.randomElement(using: &generator)!, tops.randomElement(using: &generator)!]
      if Bool.random(using: &generator) { name.insert("host", at: 0) }
      var text = name.joined(separator: ".")
      if Int.random(in: 0..<4, using: &generator) == 0 { text += "." }
      #expect(domains.contains(domain: text) == expected(text), "\(text)")
    }
    #expect(domains.contains(domain: "x.flowsentry-selftest.INVALID."))
    #expect(!domains.contains(domain: "flowsentry-selftest.com"))
    #expect(domains.contains(domain: "anything.Top"))
  }
}

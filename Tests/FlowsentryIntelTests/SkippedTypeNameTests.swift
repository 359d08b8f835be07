import FlowsentryCore
import Testing

@testable import FlowsentryIntel

/// The Zeek type names a list skips are shown by `rules check`: a feed's control characters arrive
/// escaped, and a feed naming many types keeps a bounded few.
@Suite struct SkippedTypeNameTests {
  static let header = "#fields\tindicator\tindicator_type\n"

  @Test func aTypeNameIsKeptWithItsControlsEscaped() throws {
    var builder = IntelListBuilder(name: "l", type: .address)
    try builder.loadFeed(
      Self.header + "1.2.3.4\tIntel::\u{1B}[2JADDR\n1.2.3.5\tIntel::ADDR\u{202E}\n", file: "f", format: .zeekIntel)
    let skipped = builder.build().statistics.skippedTypes
    #expect(skipped == ["Intel::\\u{1B}[2JADDR": 1, "Intel::ADDR\\u{202E}": 1])
  }

  @Test func typeNamesPastTheLimitAreCountedAsOther() throws {
    var builder = IntelListBuilder(name: "l", type: .address)
    let lines = (0..<(IntelListBuilder.skippedTypeNameLimit + 10)).map { "1.2.3.4\tIntel::T\($0)\n" }.joined()
    try builder.loadFeed(Self.header + lines, file: "f", format: .zeekIntel)
    let skipped = builder.build().statistics.skippedTypes
    #expect(skipped.count == IntelListBuilder.skippedTypeNameLimit + 1)
    #expect(skipped["(other types)"] == 10)
  }
}

import FlowsentryCore
import Testing

@testable import FlowsentryIntel

/// A list holds at most its limit of indicators; lines past it are counted as malformed, never kept.
@Suite struct IntelLimitTests {
  @Test(arguments: [IndicatorType.domain, .address, .string])
  func linesPastTheLimitAreCountedAndSkipped(type: IndicatorType) throws {
    var builder = IntelListBuilder(
      name: "capped", type: type, domainMatch: .exact, diagnosticLimit: 10, maximumRecords: 3)
    let lines = (1...5).map { index in type == .address ? "192.0.2.\(index)" : "item\(index).example" }
    try builder.loadFeed(lines.joined(separator: "\n"), file: "feed.txt", format: .lines)
    let list = builder.build()
    #expect(list.count == 3)
    #expect(list.statistics.malformed == 2)
    #expect(list.diagnostics.first?.line == 4)
    #expect(list.diagnostics.first?.message.contains("list is full") == true)
    #expect(IntelLimits.maximumIndicatorsPerList == 100_000_000)
  }
}

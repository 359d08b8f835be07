import Testing

@testable import FlowsentryRules

/// The sliced aggregate (first slice inline, the ring allocated at the second) against the window's
/// definition, computed from every value kept: the values whose slice is one of the last `slices`
/// up to the current event's, times out of order and before zero included.
@Suite struct SlicedAggregateTests {
  @Test(arguments: [1, 2, 3, 4] as [UInt64])
  func agreesWithTheDefinitionOnRandomSeries(seed: UInt64) {
    var random = BeaconRuleTests.Generator(state: seed &* 0x9E37_79B9_7F4A_7C15 | 1)
    let window: Int64 = 3_200
    let width = window / Int64(SlicedAggregate.slices)
    func slice(_ time: Int64) -> Int64 { time >= 0 ? time / width : -((-(time + 1)) / width) - 1 }
    for keepingMaximum in [false, true] {
      var aggregate = SlicedAggregate()
      var kept: [(slice: Int64, value: UInt64)] = []
      var time = Int64.random(in: -5_000...5_000, using: &random)
      for step in 0..<3_000 {
        // Mostly forwards, within a slice or a few; sometimes backwards, sometimes far ahead.
        switch step % 7 {
        case 0: time -= Int64.random(in: 0...400, using: &random)
        case 1: time += Int64.random(in: 0...20_000, using: &random)
        default: time += Int64.random(in: 0...60, using: &random)
        }
        let value = UInt64.random(in: 0...1_000, using: &random)
        let total = aggregate.add(value, at: time, window: window, keepingMaximum: keepingMaximum)
        let current = slice(time)
        // A slice's values are forgotten when another slice takes its place in the ring.
        kept.removeAll { $0.slice != current && ($0.slice - current) % 32 == 0 }
        kept.append((current, value))
        let live = kept.filter { current - $0.slice >= 0 && current - $0.slice < 32 }.map(\.value)
        let expected = keepingMaximum ? live.max() ?? 0 : live.reduce(0, +)
        #expect(total == expected, "step \(step)")
      }
    }
  }
}

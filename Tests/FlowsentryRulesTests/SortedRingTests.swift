import Testing

@testable import FlowsentryRules

/// The inline sorted ring and the scoring read off it agree with sorting the last values, for
/// every capacity, with ties, wide values and repeats of the value that leaves.
@Suite struct SortedRingTests {
  @Test(arguments: [1, 2, 3, 5, 16, 31, 32])
  func keepsTheLastValuesSortedAtEveryCapacity(capacity: Int) {
    var random = BeaconRuleTests.Generator(state: UInt64(capacity) &* 0x9E37_79B9_7F4A_7C15 | 1)
    var ring = SortedRing()
    var arrived: [UInt32] = []
    for step in 0..<600 {
      let value: UInt32
      switch step % 4 {
      case 0: value = UInt32.random(in: 0...3, using: &random)
      case 1: value = arrived.last ?? 7  // a repeat
      case 2: value = UInt32.random(in: 0...UInt32.max, using: &random)
      default: value = UInt32.random(in: 1_000...1_100, using: &random)
      }
      ring.append(value, capacity: capacity)
      arrived.append(value)
      let window = Array(arrived.suffix(capacity)).sorted()
      #expect(ring.count == window.count)
      #expect(ring.sorted == window)
      let inPlace = ring.withSorted { Array($0) }
      #expect(inPlace == window)
    }
  }

  @Test(arguments: [11, 12, 13, 14] as [UInt64])
  func medianDeviationInHalvesAgreesWithSortingDeviations(seed: UInt64) {
    var random = BeaconRuleTests.Generator(state: seed &* 0x2545_F491_4F6C_DD1D | 1)
    for count in 1...40 {
      // Odd and even counts; medians that are halves; values up to the largest interval.
      let values = (0..<count).map { _ in
        seed % 2 == 0 ? UInt32.random(in: 0...9, using: &random) : UInt32.random(in: 0...UInt32.max, using: &random)
      }.sorted()
      let shape = BeaconScore.shape(values)
      let reference = BehaviourStateTests.referenceShape(values.map(Double.init))
      #expect(shape.median == reference.median)
      #expect(shape.mad == reference.mad, "\(values)")
      #expect(shape.skewness == reference.skewness)
    }
  }
}

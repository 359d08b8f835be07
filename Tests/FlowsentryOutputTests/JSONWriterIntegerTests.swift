import FlowsentryCore
import Testing

@testable import FlowsentryOutput

/// The event encoder writes integers by hand (digit pairs, a digit count from the bit length):
/// each must read back as Swift's own decimal text, padded where the caller asks.
@Suite struct JSONWriterIntegerTests {
  static func written(_ body: (inout JSONWriter) -> Void) -> String {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
      var writer = JSONWriter(buffer.baseAddress!)
      body(&writer)
      return String(decoding: UnsafeBufferPointer(rebasing: buffer[..<writer.count]), as: UTF8.self)
    }
  }

  @Test func everyDigitCountAndItsEdgesReadBackAsSwiftWritesThem() {
    var values: [UInt64] = Array(0...1_000) + [UInt64.max, UInt64.max - 1, 1 << 63, (1 << 63) - 1]
    var power: UInt64 = 1
    for _ in 0..<19 {
      power *= 10
      values += [power - 1, power, power + 1]
    }
    for bits in 1..<64 { values += [(1 << UInt64(bits)) - 1, 1 << UInt64(bits)] }
    var random = SeededRandom(seed: 7)
    for _ in 0..<10_000 { values.append(random.next() >> (random.next() % 64)) }
    for value in values {
      #expect(Self.written { $0.unsigned(value) } == String(value), "\(value)")
      let padded = String(value)
      #expect(
        Self.written { $0.unsigned(value, minimumDigits: 9) }
          == String(repeating: "0", count: max(0, 9 - padded.count)) + padded, "\(value)")
    }
    for value in [Int64.min, Int64.min + 1, -1, -10, -99, 0, Int64.max] {
      #expect(Self.written { $0.integer(value) } == String(value))
    }
  }
}

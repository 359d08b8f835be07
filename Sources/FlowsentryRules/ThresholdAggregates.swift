import FlowsentryCore

/// The sum or the largest value of an integer field over a sliding window, in a fixed number of
/// slices: a group's state is `slices` pairs whatever the number of events, and a value leaves the
/// window with its slice, at most one slice (window / `slices`) after the window has passed it.
/// Sums saturate at UInt64's largest value, never wrap.
struct SlicedAggregate {
  static let slices = 32

  /// The slice number each entry holds (time / slice width), or `Int64.min` for none yet.
  private var sliceNumbers: [Int64] = []
  private var values: [UInt64] = []

  /// Adds `value` at `time` and returns the window's sum, or its maximum when `keepingMaximum`.
  mutating func add(_ value: UInt64, at time: Int64, window: Int64, keepingMaximum: Bool) -> UInt64 {
    if sliceNumbers.isEmpty {
      sliceNumbers = Array(repeating: .min, count: Self.slices)
      values = Array(repeating: 0, count: Self.slices)
    }
    let width = max(1, window / Int64(Self.slices))
    // Floor division, so that times before zero (hostile recordings) still fall into one slice each.
    let number = time >= 0 ? time / width : -((-(time + 1)) / width) - 1
    let slot = Int(((number % Int64(Self.slices)) + Int64(Self.slices)) % Int64(Self.slices))
    if sliceNumbers[slot] != number {
      sliceNumbers[slot] = number
      values[slot] = 0
    }
    values[slot] = keepingMaximum ? max(values[slot], value) : values[slot].addingSaturating(value)
    var total: UInt64 = 0
    for index in 0..<Self.slices {
      let age = number.saturatingSubtraction(sliceNumbers[index])
      guard age >= 0, age < Int64(Self.slices) else { continue }
      total = keepingMaximum ? max(total, values[index]) : total.addingSaturating(values[index])
    }
    return total
  }
}

extension UInt64 {
  func addingSaturating(_ other: UInt64) -> UInt64 {
    let (sum, overflow) = addingReportingOverflow(other)
    return overflow ? .max : sum
  }
}

extension Threshold.Measure {
  /// The integer field a `sum` or `max` threshold measures.
  var aggregatedField: String? {
    switch self {
    case .sum(let field), .maximum(let field): return field
    case .count, .distinct: return nil
    }
  }

  var isMaximum: Bool {
    if case .maximum = self { return true }
    return false
  }
}

extension Fields {
  /// An integer field's value as a count to add up: 0 when the event lacks it, negatives as 0.
  static func amount(_ field: Field, of event: EventFields) -> UInt64 {
    guard case .integer(let read) = field.accessor, let value = read(event) else { return 0 }
    return UInt64(clamping: value)
  }
}

import FlowsentryCore

/// The sum or the largest value of an integer field over a sliding window, in a fixed number of
/// slices: a group's state is `slices` pairs whatever the number of events, and a value leaves the
/// window with its slice, at most one slice (window / `slices`) after the window has passed it.
/// Sums saturate at UInt64's largest value, never wrap.
struct SlicedAggregate {
  static let slices = 32

  private struct Slice {
    /// time / slice width, or `Int64.min` for none yet.
    var number = Int64.min
    var value: UInt64 = 0
  }

  /// The first slice a group fills, inline: a group seen within one slice (most groups of a host
  /// with many remotes) allocates nothing.
  private var first = Slice()
  /// Allocated when a second slice begins (one allocation a group), then holding them all.
  private var slices: [Slice] = []

  /// Adds `value` at `time` and returns the window's sum, or its maximum when `keepingMaximum`.
  mutating func add(_ value: UInt64, at time: Int64, window: Int64, keepingMaximum: Bool) -> UInt64 {
    let width = max(1, window / Int64(Self.slices))
    // Floor division, so that times before zero (hostile recordings) still fall into one slice each.
    let number = time >= 0 ? time / width : -((-(time + 1)) / width) - 1
    if slices.isEmpty {
      if first.number == Int64.min || first.number == number {
        first.number = number
        first.value = keepingMaximum ? max(first.value, value) : first.value.saturatingAddition(value)
        return first.value
      }
      // A second slice: from here on all live in the ring, the first one where its number puts it.
      slices = Array(repeating: Slice(), count: Self.slices)
      slices[Self.slot(first.number)] = first
    }
    let slot = Self.slot(number)
    if slices[slot].number != number { slices[slot] = Slice(number: number, value: 0) }
    slices[slot].value = keepingMaximum ? max(slices[slot].value, value) : slices[slot].value.saturatingAddition(value)
    var total: UInt64 = 0
    for slice in slices {
      let age = number.saturatingSubtraction(slice.number)
      guard age >= 0, age < Int64(Self.slices) else { continue }
      total = keepingMaximum ? max(total, slice.value) : total.saturatingAddition(slice.value)
    }
    return total
  }

  private static func slot(_ number: Int64) -> Int {
    Int(((number % Int64(slices)) + Int64(slices)) % Int64(slices))
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
    amount(field.accessor, of: event)
  }

  /// As `amount(_:of:)`, from the accessor alone (the per-event path: no `Field` is copied).
  static func amount(_ accessor: Field.Accessor, of event: EventFields) -> UInt64 {
    guard case .integer(let read) = accessor, let value = read(event) else { return 0 }
    return UInt64(clamping: value)
  }
}

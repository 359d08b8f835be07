/// Arithmetic on numbers that come from files, the kernel or the wire, clamped to the type's range
/// instead of trapping: a hostile or broken input may reach any value, and a clamped time, sum or
/// duration is still ordered right.
extension Int64 {
  /// `self - other`, clamped.
  public func saturatingSubtraction(_ other: Int64) -> Int64 {
    let (difference, overflow) = subtractingReportingOverflow(other)
    guard overflow else { return difference }
    return other > 0 ? .min : .max
  }

  /// `self + other`, clamped.
  public func saturatingAddition(_ other: Int64) -> Int64 {
    let (sum, overflow) = addingReportingOverflow(other)
    guard overflow else { return sum }
    return other > 0 ? .max : .min
  }
}

extension UInt64 {
  /// `self + other`, at most `UInt64.max`.
  public func saturatingAddition(_ other: UInt64) -> UInt64 {
    let (sum, overflow) = addingReportingOverflow(other)
    return overflow ? .max : sum
  }
}

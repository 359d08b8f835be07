import Yams

extension Node {
  /// The scalar as an integer, or nil. Yams reads `1:30` as the YAML 1.1 base-60 integer 90 and
  /// multiplies its parts unchecked, so a rule or configuration file holding
  /// `461168601842738790:4` trapped the process reading it (a SIGHUP reload killed the sensor).
  /// Base-60 is refused: no port, count or size is written that way on purpose. Decimal, `0x`,
  /// `0o`, `0b` and a leading `0` (octal) read as Yams reads them, nil past `Int`'s range.
  public var checkedInt: Int? {
    guard let text = scalar?.string, !text.contains(":") else { return nil }
    return int
  }
}

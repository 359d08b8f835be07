/// How the engine's LRUs of groups (threshold windows, suppressions, beacon histories) hash a
/// group key: addresses and integers are mixed in as words, in a few multiplications, where a
/// `Hasher` costs a seeding, a round per value and a finalization on every event. Texts still go
/// through their own `hashValue`, which agrees with String's `==` (canonical equivalence); the
/// mix is keyed by a seed drawn per process, so that remotes chosen to collide cannot be
/// precomputed (a flood of them would otherwise make each lookup a long probe).
enum GroupKeyHash {
  private static let seeds: (UInt64, UInt64) = {
    var generator = SystemRandomNumberGenerator()
    return (generator.next() | 1, generator.next() | 1)
  }()

  /// The 128-bit product of the keyed inputs, folded: every input bit reaches the low bits that
  /// pick a table position.
  @inline(__always)
  static func combine(_ state: UInt64, _ word: UInt64) -> UInt64 {
    let product = (state ^ seeds.0).multipliedFullWidth(by: word ^ seeds.1)
    return product.high ^ product.low
  }

  /// `state` with `value` mixed in; each kind of value mixes in its own tag, so that kinds holding
  /// the same bits (an integer and an IPv4 address) do not meet.
  @inline(__always)
  static func combine(_ state: UInt64, _ value: FieldValue) -> UInt64 {
    switch value {
    case .missing: return combine(state, 0x6d69_7373)
    case .integer(let integer): return combine(state ^ 1, UInt64(bitPattern: integer))
    case .address(.v4(let address)): return combine(state ^ 2, UInt64(address))
    case .address(.v6(let high, let low)): return combine(combine(state ^ 3, high), low)
    case .string(let text): return combine(state ^ 4, UInt64(UInt(bitPattern: text.hashValue)))
    case .strings(let texts): return combine(state ^ 5, UInt64(UInt(bitPattern: texts.hashValue)))
    }
  }
}

extension RuleEngine.GroupKey {
  /// The hash every call on the engine's LRUs of groups passes (`hashValue:`): equal keys hash
  /// equal, as `==` compares the same values.
  var tableHash: Int {
    var state = GroupKeyHash.combine(0, first)
    state = GroupKeyHash.combine(state, second)
    for value in rest { state = GroupKeyHash.combine(state, value) }
    return Int(truncatingIfNeeded: state)
  }
}

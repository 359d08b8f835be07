import FlowsentryCore

/// What address lists hold of a block rather than of one address: an analyst's report names
/// `203.0.113.0/24`, and both the listed blocks around it and the entries within it concern it.
public struct IntelBlockEntries: Sendable, Equatable {
  /// Listed blocks equal to or holding the whole block, most specific first (of equal ones, the
  /// earlier set's first): the first is what an alert on an address of the block names, unless an
  /// entry inside the block holds that address.
  public var covering: [IntelMatch] = []
  /// The first listed entries strictly inside the block, in address order, up to the limit asked for.
  public var inside: [IntelMatch] = []
  /// Every entry strictly inside the block, shown in `inside` or not.
  public var insideCount = 0

  public var isEmpty: Bool { covering.isEmpty && insideCount == 0 }
}

extension IntelList {
  /// `block` as the lists hold blocks: host bits cleared, as a feed's entry is read, and an
  /// IPv4-mapped block (`::ffff:0:0/96` or longer) as the IPv4 block it stands for. A shorter IPv6
  /// block over the mapped space stays IPv6: no IPv4 peer is ever tested against an IPv6 entry.
  public static func listedForm(of block: IPNetwork) -> IPNetwork {
    let cleared = block.withHostBitsCleared
    if case .v6(0, let low) = cleared.network, cleared.prefixLength >= 96, low >> 32 == 0xffff {
      return IPNetwork(network: .v4(UInt32(truncatingIfNeeded: low)), prefixLength: cleared.prefixLength - 96)!
    }
    return cleared
  }

  /// The entries of this list that cover `block` or lie inside it; see `entries(of:in:insideLimit:)`.
  public func entries(of block: IPNetwork, insideLimit: Int) -> IntelBlockEntries {
    Self.entries(of: block, in: [self], insideLimit: insideLimit)
  }

  /// The entries of `sets` (one rule list's inline items and files, in the rules' order) that cover
  /// `block` or lie inside it, the block read as `listedForm(of:)` reads it. Of the inside ones only
  /// the first `insideLimit` are described: a /8 against a feed of millions counts them all by two
  /// searches a set but reads no more entries than it shows.
  public static func entries(of block: IPNetwork, in sets: [IntelList], insideLimit: Int) -> IntelBlockEntries {
    let block = listedForm(of: block)
    switch block.network {
    case .v4(let network):
      return collect(
        network, length: block.prefixLength, tables: sets.map(\.ipv4), insideLimit: insideLimit,
        describe: { sets[$0].describe(ipv4Entry: $1) })
    case .v6(let high, let low):
      return collect(
        UInt128(high) << 64 | UInt128(low), length: block.prefixLength, tables: sets.map(\.ipv6),
        insideLimit: insideLimit, describe: { sets[$0].describe(ipv6Entry: $1) })
    }
  }

  private static func collect<Key>(
    _ network: Key, length: Int, tables: [PrefixTable<Key>], insideLimit: Int,
    describe: (_ set: Int, _ entry: Int) -> IntelMatch
  ) -> IntelBlockEntries {
    var found = IntelBlockEntries()
    var pending: [Range<Int>] = []
    for (set, table) in tables.enumerated() {
      found.covering += table.covering(network, length: length).map { describe(set, $0) }
      pending.append(table.inside(network, length: length))
    }
    // Across sets as within one: narrowest first, the earlier set's first among equals (stable).
    found.covering = found.covering.enumerated()
      .sorted { ($0.element.specificity, -$0.offset) > ($1.element.specificity, -$1.offset) }.map(\.element)
    found.insideCount = pending.reduce(0) { $0 + $1.count }
    // Each set's run is in address order already: merging them takes the lowest head each time, and
    // stops at the limit without reading further.
    while found.inside.count < insideLimit {
      var lowest: Int?
      for set in pending.indices where !pending[set].isEmpty {
        guard let best = lowest else {
          lowest = set
          continue
        }
        if tables[set].orders(pending[set].lowerBound, before: tables[best], pending[best].lowerBound) { lowest = set }
      }
      guard let set = lowest else { break }
      found.inside.append(describe(set, pending[set].lowerBound))
      pending[set] = pending[set].dropFirst()
    }
    return found
  }
}

extension PrefixTable {
  /// Whether this table's `entry` comes before `other`'s `otherEntry` in address order (network,
  /// then the broader first); of equal ones, the earlier set's stays first.
  fileprivate func orders(_ entry: Int, before other: PrefixTable, _ otherEntry: Int) -> Bool {
    (networks[entry], lengths[entry]) < (other.networks[otherEntry], other.lengths[otherEntry])
  }
}

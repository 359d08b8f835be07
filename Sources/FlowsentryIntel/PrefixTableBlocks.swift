/// Queries by block rather than by address. They read the sorted prefixes, not the flattened ranges:
/// a range names only the most specific prefix over it, and a block asks for the broader ones too.
extension PrefixTable {
  /// The entries equal to or holding the block `network`/`length` (host bits clear), most specific
  /// first. At most one prefix of each length can hold it, so one search a length finds them all
  /// without reading the entries between them.
  func covering(_ network: Key, length: Int) -> [Int] {
    guard !networks.isEmpty else { return [] }
    var found: [Int] = []
    for candidate in stride(from: length, through: 0, by: -1) {
      let prefix = network & Self.mask(candidate)
      let entry = firstEntry(notBefore: prefix, length: candidate)
      if entry < networks.count && networks[entry] == prefix && Int(lengths[entry]) == candidate {
        found.append(entry)
      }
    }
    return found
  }

  /// The entries strictly inside the block `network`/`length` (host bits clear), as a range of entry
  /// numbers in address order. Sorted by network then length, the block's more specific prefixes
  /// follow its own and its covering ones at the same network and end before the first network past
  /// it, so two searches bound them however many there are.
  func inside(_ network: Key, length: Int) -> Range<Int> {
    guard !networks.isEmpty, length < Key.bitWidth else { return 0..<0 }
    let first = firstEntry(notBefore: network, length: length + 1)
    let last = network | ~Self.mask(length)
    // No prefix is longer than the key's width, so this is the first entry past `last`.
    let end = firstEntry(notBefore: last, length: Key.bitWidth + 1)
    return first..<max(first, end)
  }

  /// The first entry at or after `network`/`length` in the table's order (network, then length).
  private func firstEntry(notBefore network: Key, length: Int) -> Int {
    var (low, high) = (0, networks.count)
    while low < high {
      let middle = (low + high) / 2
      if networks[middle] < network || (networks[middle] == network && Int(lengths[middle]) < length) {
        low = middle + 1
      } else {
        high = middle
      }
    }
    return low
  }
}

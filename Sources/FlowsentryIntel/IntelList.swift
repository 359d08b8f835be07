import FlowsentryCore

/// A loaded list of indicators of one type, immutable and `Sendable`: built once off the pipeline
/// (`IntelListBuilder`), then shared by the rule engine's threads. `contains` is the hot path;
/// `match` says what matched and where it came from, for the alert.
public struct IntelList: Sendable {
  /// The list's structures behind one reference: a rule's predicate copies its lists for every
  /// lookup, and a struct of a dozen arrays would cost a dozen retains and releases each time.
  final class Storage: Sendable {
    let name: String
    let type: IndicatorType
    let domainMatch: DomainMatch
    let statistics: IntelListStatistics
    let diagnostics: [Diagnostic]
    let warnings: [Diagnostic]
    let domains: DomainSet
    let strings: StringSet
    let ports: PortSet
    let ipv4: PrefixTable<UInt32>
    let ipv6: PrefixTable<UInt128>
    let origins: OriginTable

    init(
      name: String, type: IndicatorType, domainMatch: DomainMatch, statistics: IntelListStatistics,
      diagnostics: [Diagnostic], warnings: [Diagnostic], domains: DomainSet, strings: StringSet, ports: PortSet,
      ipv4: PrefixTable<UInt32>, ipv6: PrefixTable<UInt128>, origins: OriginTable
    ) {
      self.name = name
      self.type = type
      self.domainMatch = domainMatch
      self.statistics = statistics
      self.diagnostics = diagnostics
      self.warnings = warnings
      self.domains = domains
      self.strings = strings
      self.ports = ports
      self.ipv4 = ipv4
      self.ipv6 = ipv6
      self.origins = origins
    }
  }

  let storage: Storage

  init(
    name: String, type: IndicatorType, domainMatch: DomainMatch, statistics: IntelListStatistics,
    diagnostics: [Diagnostic], warnings: [Diagnostic], domains: DomainSet, strings: StringSet, ports: PortSet,
    ipv4: PrefixTable<UInt32>, ipv6: PrefixTable<UInt128>, origins: OriginTable
  ) {
    storage = Storage(
      name: name, type: type, domainMatch: domainMatch, statistics: statistics, diagnostics: diagnostics,
      warnings: warnings, domains: domains, strings: strings, ports: ports, ipv4: ipv4, ipv6: ipv6, origins: origins)
  }

  public var name: String { storage.name }
  public var type: IndicatorType { storage.type }
  /// How domain lookups match; `.exact` for lists of other types.
  public var domainMatch: DomainMatch { storage.domainMatch }
  public var statistics: IntelListStatistics { storage.statistics }
  /// The first malformed lines (up to the builder's limit); `statistics.malformed` counts them all.
  public var diagnostics: [Diagnostic] { storage.diagnostics }
  /// Entries kept that are probably mistakes (an address block broader than /8 or /16), the first up
  /// to the builder's limit; `statistics.broadBlocks` counts them all.
  public var warnings: [Diagnostic] { storage.warnings }

  var domains: DomainSet { storage.domains }
  var strings: StringSet { storage.strings }
  var ports: PortSet { storage.ports }
  var ipv4: PrefixTable<UInt32> { storage.ipv4 }
  var ipv6: PrefixTable<UInt128> { storage.ipv6 }
  var origins: OriginTable { storage.origins }

  /// Distinct indicators held.
  public var count: Int { statistics.indicators }

  // MARK: Domains

  /// Whether `name` (any case, trailing dot ignored) is listed, or for a suffix list is under a listed name.
  public func contains(domain name: some StringProtocol) -> Bool {
    Self.withUTF8(name) { storage.domains.lookup($0) } != nil
  }

  /// As `contains(domain:)`, for a name already in bytes (a DNS question, say).
  public func contains(domainBytes name: UnsafeRawBufferPointer) -> Bool {
    storage.domains.lookup(name) != nil
  }

  /// Whether any of `lists` holds `name` (bytes, as `contains(domainBytes:)`): one call for a
  /// rule's term over several lists, whose loop reads each list's tables in place.
  public static func anyContains(domainBytes name: UnsafeRawBufferPointer, in lists: [IntelList]) -> Bool {
    lists.withUnsafeBufferPointer { lists in
      for index in lists.indices where lists[index].contains(domainBytes: name) { return true }
      return false
    }
  }

  /// The listed name that `name` matches (for suffix lists the most specific), with its origin.
  public func match(domain name: some StringProtocol) -> IntelMatch? {
    guard let entry = Self.withUTF8(name, { storage.domains.lookup($0) }) else { return nil }
    let indicator = domains.name(of: entry)
    return describe(record: entry, indicator: indicator, specificity: indicator.utf8.count)
  }

  // MARK: Addresses

  /// Whether a listed address or block holds `address`; an IPv4-mapped IPv6 address is looked up as IPv4.
  public func contains(address: IPAddress) -> Bool {
    lookup(address) != nil
  }

  /// The most specific listed block holding `address`, with its origin.
  public func match(address: IPAddress) -> IntelMatch? {
    guard let hit = lookup(address) else { return nil }
    return hit.isIPv4 ? describe(ipv4Entry: Int(hit.entry)) : describe(ipv6Entry: Int(hit.entry))
  }

  func describe(ipv4Entry entry: Int) -> IntelMatch {
    describe(
      record: ipv4.records[entry], indicator: Self.describeIPv4Block(ipv4.networks[entry], length: ipv4.lengths[entry]),
      specificity: Int(ipv4.lengths[entry]))
  }

  func describe(ipv6Entry entry: Int) -> IntelMatch {
    let network = ipv6.networks[entry]
    let address = IPAddress.v6(high: UInt64(network >> 64), low: UInt64(truncatingIfNeeded: network))
    return describe(
      record: ipv6.records[entry], indicator: "\(address)/\(ipv6.lengths[entry])", specificity: Int(ipv6.lengths[entry])
    )
  }

  @inline(__always)
  private func lookup(_ address: IPAddress) -> (isIPv4: Bool, entry: UInt32)? {
    switch address.unmappingIPv4 {
    case .v4(let value):
      return storage.ipv4.lookup(value).map { (true, $0) }
    case .v6(let high, let low):
      return storage.ipv6.lookup(UInt128(high) << 64 | UInt128(low)).map { (false, $0) }
    }
  }

  // MARK: Strings and ports

  /// Whether `string` is listed, byte for byte.
  public func contains(string: some StringProtocol) -> Bool {
    Self.withUTF8(string) { storage.strings.lookup($0) } != nil
  }

  public func match(string: some StringProtocol) -> IntelMatch? {
    guard let entry = Self.withUTF8(string, { storage.strings.lookup($0) }) else { return nil }
    return describe(record: entry, indicator: strings.string(of: entry))
  }

  public func contains(port: UInt16) -> Bool {
    storage.ports.lookup(port) != nil
  }

  public func match(port: UInt16) -> IntelMatch? {
    guard let entry = storage.ports.lookup(port) else { return nil }
    return describe(record: entry, indicator: String(port))
  }

  // MARK: -

  /// `a.b.c.d/n`, as `"\(IPAddress.v4(network))/\(length)"` writes it, in a tenth of the time: a
  /// rule describes the match of every event whose address is listed (its suppression key), not
  /// only those it alerts on.
  static func describeIPv4Block(_ network: UInt32, length: UInt8) -> String {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
      var count = 0
      func append(_ value: Int) {
        if value >= 100 {
          buffer[count] = UInt8(ascii: "0") + UInt8(value / 100)
          count += 1
        }
        if value >= 10 {
          buffer[count] = UInt8(ascii: "0") + UInt8(value / 10 % 10)
          count += 1
        }
        buffer[count] = UInt8(ascii: "0") + UInt8(value % 10)
        count += 1
      }
      for shift in stride(from: 24, through: 0, by: -8) {
        append(Int(network >> UInt32(shift) & 0xff))
        buffer[count] = shift == 0 ? UInt8(ascii: "/") : UInt8(ascii: ".")
        count += 1
      }
      append(Int(length))
      return String(decoding: UnsafeBufferPointer(rebasing: buffer[0..<count]), as: UTF8.self)
    }
  }

  private func describe(record: UInt32, indicator: String, specificity: Int = 0) -> IntelMatch {
    let (origin, line) = origins.origin(of: record)
    return IntelMatch(indicator: indicator, list: name, origin: origin, line: line, specificity: specificity)
  }

  /// Of one list's sets (inline items, then each file), the match naming the narrowest indicator,
  /// the earlier set's of equally narrow ones: what the list says of a value whatever file an
  /// entry came from, as a single table would (longest prefix, longest listed suffix).
  public static func mostSpecific(in sets: [IntelList], _ lookup: (IntelList) -> IntelMatch?) -> IntelMatch? {
    var best: IntelMatch?
    for set in sets {
      guard let found = lookup(set) else { continue }
      if best == nil || found.specificity > best!.specificity { best = found }
    }
    return best
  }

  @inline(__always)
  static func withUTF8<Result>(_ text: some StringProtocol, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    if let result = text.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
      return result
    }
    return Array(text.utf8).withUnsafeBytes(body)
  }
}

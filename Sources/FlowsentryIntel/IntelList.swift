import FlowsentryCore

/// A loaded list of indicators of one type, immutable and `Sendable`: built once off the pipeline
/// (`IntelListBuilder`), then shared by the rule engine's threads. `contains` is the hot path;
/// `match` says what matched and where it came from, for the alert.
public struct IntelList: Sendable {
  public let name: String
  public let type: IndicatorType
  /// How domain lookups match; `.exact` for lists of other types.
  public let domainMatch: DomainMatch
  public let statistics: IntelListStatistics
  /// The first malformed lines (up to the builder's limit); `statistics.malformed` counts them all.
  public let diagnostics: [Diagnostic]

  let domains: DomainSet
  let strings: StringSet
  let ports: PortSet
  let ipv4: PrefixTable<UInt32>
  let ipv6: PrefixTable<UInt128>
  let origins: OriginTable

  /// Distinct indicators held.
  public var count: Int { statistics.indicators }

  // MARK: Domains

  /// Whether `name` (any case, trailing dot ignored) is listed, or for a suffix list is under a listed name.
  public func contains(domain name: some StringProtocol) -> Bool {
    Self.withUTF8(name) { domains.lookup($0) } != nil
  }

  /// As `contains(domain:)`, for a name already in bytes (a DNS question, say).
  public func contains(domainBytes name: UnsafeRawBufferPointer) -> Bool {
    domains.lookup(name) != nil
  }

  /// The listed name that `name` matches (for suffix lists the most specific), with its origin.
  public func match(domain name: some StringProtocol) -> IntelMatch? {
    guard let entry = Self.withUTF8(name, { domains.lookup($0) }) else { return nil }
    return describe(record: entry, indicator: domains.name(of: entry))
  }

  // MARK: Addresses

  /// Whether a listed address or block holds `address`; an IPv4-mapped IPv6 address is looked up as IPv4.
  public func contains(address: IPAddress) -> Bool {
    lookup(address) != nil
  }

  /// The most specific listed block holding `address`, with its origin.
  public func match(address: IPAddress) -> IntelMatch? {
    guard let hit = lookup(address) else { return nil }
    let text: String
    let record: UInt32
    if hit.isIPv4 {
      let entry = Int(hit.entry)
      text = "\(IPAddress.v4(ipv4.networks[entry]))/\(ipv4.lengths[entry])"
      record = ipv4.records[entry]
    } else {
      let entry = Int(hit.entry)
      let network = ipv6.networks[entry]
      let address = IPAddress.v6(high: UInt64(network >> 64), low: UInt64(truncatingIfNeeded: network))
      text = "\(address)/\(ipv6.lengths[entry])"
      record = ipv6.records[entry]
    }
    return describe(record: record, indicator: text)
  }

  @inline(__always)
  private func lookup(_ address: IPAddress) -> (isIPv4: Bool, entry: UInt32)? {
    switch address.unmappingIPv4 {
    case .v4(let value):
      return ipv4.lookup(value).map { (true, $0) }
    case .v6(let high, let low):
      return ipv6.lookup(UInt128(high) << 64 | UInt128(low)).map { (false, $0) }
    }
  }

  // MARK: Strings and ports

  /// Whether `string` is listed, byte for byte.
  public func contains(string: some StringProtocol) -> Bool {
    Self.withUTF8(string) { strings.lookup($0) } != nil
  }

  public func match(string: some StringProtocol) -> IntelMatch? {
    guard let entry = Self.withUTF8(string, { strings.lookup($0) }) else { return nil }
    return describe(record: entry, indicator: strings.string(of: entry))
  }

  public func contains(port: UInt16) -> Bool {
    ports.lookup(port) != nil
  }

  public func match(port: UInt16) -> IntelMatch? {
    guard let entry = ports.lookup(port) else { return nil }
    return describe(record: entry, indicator: String(port))
  }

  // MARK: -

  private func describe(record: UInt32, indicator: String) -> IntelMatch {
    let (origin, line) = origins.origin(of: record)
    return IntelMatch(indicator: indicator, list: name, origin: origin, line: line)
  }

  @inline(__always)
  static func withUTF8<Result>(_ text: some StringProtocol, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    if let result = text.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
      return result
    }
    return Array(text.utf8).withUnsafeBytes(body)
  }
}

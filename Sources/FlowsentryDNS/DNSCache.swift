import FlowsentryCore

/// IP address → the names that resolved to it, filled from DNS responses as they are seen.
///
/// Each answer contributes the chain from the name the client asked for, through every CNAME, to
/// the name that owns the address record. An entry lives for the chain's shortest TTL plus
/// `grace` (a connection made right after a TTL-0 answer is still named), keeps the most recent
/// `chainsPerAddress` chains (shared CDN addresses), and the cache is bounded to `capacity`
/// addresses with least-recently-used eviction.
public struct DNSCache {
  public struct Configuration: Sendable {
    public var capacity: Int = 100_000
    public var graceNanoseconds: Int64 = 10_000_000_000
    public var chainsPerAddress: Int = 4
    public init() {}
  }

  public struct Counters: Sendable, Equatable {
    public var responses: UInt64 = 0
    public var addressesInserted: UInt64 = 0
    public var hits: UInt64 = 0
    public var misses: UInt64 = 0
    /// Lookups that found only expired chains.
    public var expired: UInt64 = 0
    public var evictions: UInt64 = 0
    public var entries: Int = 0
    public init() {}
  }

  private struct Chain {
    var names: [String]
    var expiresAt: WallClockNanoseconds
  }

  /// An address as seen from one network namespace: a name another namespace resolved (its own
  /// resolver, its own view of the world) does not name it.
  private struct Key: Hashable {
    var address: IPAddress
    var networkNamespace: UInt64
  }

  public let configuration: Configuration
  public private(set) var counters = Counters()
  private var entries: LRUDictionary<Key, [Chain]>

  /// CNAME chains longer than this are cut (a loop in the answers would otherwise never end).
  static let maximumChainLength = 16

  public init(configuration: Configuration = Configuration()) {
    self.configuration = configuration
    entries = LRUDictionary(capacity: configuration.capacity)
  }

  /// Records what a response says; `at` is when it was seen, `networkNamespace` where (0: unknown).
  public mutating func insert(_ message: DNSMessage, at now: WallClockNanoseconds, networkNamespace: UInt64 = 0) {
    guard message.isResponse, message.responseCode == 0, !message.answers.isEmpty else { return }
    counters.responses += 1
    // alias → (target, ttl)
    var canonical: [String: (target: String, ttl: UInt32)] = [:]
    for answer in message.answers {
      if case .canonicalName(let target) = answer.data { canonical[answer.name] = (target, answer.timeToLive) }
    }
    var aliasesOf: [String: String] = [:]  // target → alias, to walk a chain backwards
    for (alias, link) in canonical { aliasesOf[link.target] = alias }

    for answer in message.answers {
      guard case .address(let address) = answer.data else { continue }
      // Walk back from the owner of the address record to the name that was asked for.
      var names = [answer.name]
      var ttl = answer.timeToLive
      var current = answer.name
      while names.count < Self.maximumChainLength, let alias = aliasesOf[current], !names.contains(alias) {
        names.append(alias)
        ttl = min(ttl, canonical[alias]?.ttl ?? ttl)
        current = alias
      }
      names.reverse()
      let chain = Chain(names: names, expiresAt: now + Int64(ttl) * 1_000_000_000 + configuration.graceNanoseconds)
      let key = Key(address: address, networkNamespace: networkNamespace)
      var chains = entries.peek(key) ?? []
      chains.removeAll { $0.names == names || $0.expiresAt <= now }
      chains.insert(chain, at: 0)
      if chains.count > configuration.chainsPerAddress {
        chains.removeLast(chains.count - configuration.chainsPerAddress)
      }
      if entries.insert(chains, for: key) != nil { counters.evictions += 1 }
      counters.addressesInserted += 1
    }
    counters.entries = entries.count
  }

  /// The names for `address` still valid at `now`: most recent chain first, each chain from the
  /// queried name to the final one, without repeats.
  public mutating func names(
    for address: IPAddress, at now: WallClockNanoseconds, networkNamespace: UInt64 = 0
  ) -> [String] {
    // Nothing cached (no DNS seen yet, or all of it expired): a miss without hashing.
    guard entries.count > 0 else {
      counters.misses += 1
      return []
    }
    let key = Key(address: address, networkNamespace: networkNamespace)
    guard let chains = entries.touch(key) else {
      counters.misses += 1
      return []
    }
    var names: [String] = []
    for chain in chains where chain.expiresAt > now {
      for name in chain.names where !names.contains(name) { names.append(name) }
    }
    if names.isEmpty {
      counters.expired += 1
      entries.removeValue(for: key)
      counters.entries = entries.count
    } else {
      counters.hits += 1
    }
    return names
  }
}

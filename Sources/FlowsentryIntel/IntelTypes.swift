import FlowsentryCore

/// What a list holds; each type has its own parser and its own set structure.
public enum IndicatorType: String, Sendable, CaseIterable {
  /// Domain names, compared case-insensitively with a trailing dot ignored.
  case domain
  /// IPv4 and IPv6 addresses and CIDR blocks, matched by longest prefix.
  case address
  /// Byte strings, compared exactly (case-sensitive).
  case string
  /// TCP/UDP port numbers, 0–65535.
  case port
}

/// How a domain list matches a name.
public enum DomainMatch: String, Sendable, CaseIterable {
  /// The listed name only.
  case exact
  /// The listed name or any name under it, at label boundaries: `evil.com` matches `a.evil.com`,
  /// never `notevil.com`.
  case suffix
}

/// The layout of a feed file.
public enum FeedFormat: Sendable, Equatable {
  /// One indicator a line; `#` comment lines, blank lines, CRLF and a UTF-8 BOM are accepted.
  case lines
  /// Comma-separated values; the indicator is in `column`.
  case csv(column: CSVColumn)
  /// Zeek's intel framework file: tab-separated, named by its `#fields` header.
  case zeekIntel
}

/// Which CSV field holds the indicator.
public enum CSVColumn: Sendable, Equatable {
  /// 1-based.
  case index(Int)
  /// A field name of the header: the first uncommented line when it names the column, or the last
  /// `#` comment line before the data that does (abuse.ch writes `# "first_seen_utc","dst_ip",…`).
  case name(String)
}

/// Where an indicator was read: a feed file, and for Zeek intel files the `meta.source` its line gave.
public struct IndicatorOrigin: Sendable, Hashable {
  public var file: String
  public var feedSource: String?

  public init(file: String, feedSource: String? = nil) {
    self.file = file
    self.feedSource = feedSource
  }

  /// Who published the indicators: the feed's own name for its source when it gave one, else the
  /// file, which one feed's lines share (its path is what the rule file names it by).
  public var provider: String { feedSource ?? file }
}

/// A listed indicator that matched, with the list and where the indicator came from.
public struct IntelMatch: Sendable, Equatable, CustomStringConvertible {
  /// The indicator as the list holds it: a normalized domain, `203.0.113.0/24`, the string, the port.
  public var indicator: String
  public var list: String
  public var origin: IndicatorOrigin
  /// 1-based line of the feed (or of the rule file for inline items); saturated at `UInt32.max`.
  public var line: Int
  /// How much of the space the indicator names, to choose among a list's sets (inline items and
  /// each file hold their own): a block's prefix length, a listed name's length in bytes (of two
  /// suffixes of one name the longer is the narrower); 0 for strings and ports, matched exactly.
  public var specificity = 0

  /// `file:line`, or `meta.source (file:line)` when the feed named its source.
  public var source: String {
    let position = "\(origin.file):\(line)"
    if let feedSource = origin.feedSource { return "\(feedSource) (\(position))" }
    return position
  }

  public var description: String { "\(indicator) in \(list) from \(source)" }
}

/// What loading a list found.
public struct IntelListStatistics: Sendable, Equatable {
  /// Distinct indicators held.
  public var indicators = 0
  /// Indicators seen again (same normalized name, same network, same string or port); the first is kept.
  public var duplicates = 0
  /// Lines (or fields) refused: not an indicator of the list's type, or one no name can match or that
  /// would match too much (an address or, from a feed, a single label in a domain list); each is a diagnostic.
  public var malformed = 0
  /// Address blocks kept though broader than /8 (IPv4) or /16 (IPv6); each is a warning.
  public var broadBlocks = 0
  /// Single labels of hosts-file lines (`127.0.0.1 localhost`, a hosts file's header): not
  /// indicators and not malformed either, so counted apart, without a diagnostic.
  public var hostsFileLabels = 0
  /// Zeek intel lines whose `indicator_type` this list does not hold, by type.
  public var skippedTypes: [String: Int] = [:]
  /// Zeek intel lines whose `meta.source` was one more past `IntelLimits.maximumFeedSourcesPerList`
  /// distinct ones: kept, with their file as their origin.
  public var feedSourcesPastLimit = 0
  /// Strings read from feeds (a string list's) that no DNS name as capture writes it can equal: one
  /// with a capital, a space, a control or a non-ASCII byte, or a leading or final dot. A list of
  /// them tested against a name field can never match there; a rule that does is warned of it once,
  /// naming the first (a feed may hold millions).
  public var stringsUnlikeAnyName = 0
  /// The first of `stringsUnlikeAnyName`, where it was read.
  public var firstStringUnlikeAnyName: PositionedIndicator?
  /// Lines read from feeds, comments and blank lines included.
  public var lines = 0
  public var bytesRead = 0
  public var files = 0
  /// Bytes of the list's structures (array capacities), the measure of its resident cost.
  public var memoryBytes = 0

  public var skipped: Int { skippedTypes.values.reduce(0, +) }
}

/// An indicator as a feed wrote it, and where: `file:line:column`.
public struct PositionedIndicator: Sendable, Equatable {
  public var text: String
  public var file: String
  public var line: Int
  public var column: Int

  public init(text: String, file: String, line: Int, column: Int) {
    self.text = text
    self.file = file
    self.line = line
    self.column = column
  }
}

/// A feed that cannot be used at all (unlike a malformed line, which is counted and skipped).
public enum IntelFeedError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The file could not be opened or read; `reason` is the system's message.
  case unreadable(path: String, reason: String)
  /// The file's structure is unusable (a CSV column no header names, a Zeek file without `#fields`).
  case invalid(Diagnostic)

  public var description: String {
    switch self {
    case .unreadable(let path, let reason): return "\(path): error: cannot read feed: \(reason)"
    case .invalid(let diagnostic): return diagnostic.description
    }
  }
}

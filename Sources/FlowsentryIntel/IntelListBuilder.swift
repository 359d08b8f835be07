import FlowsentryCore

/// Loads feeds (and inline items) into one list, then `build()`s the immutable `IntelList`. A malformed
/// line is a positioned diagnostic, counted and skipped; only a feed that cannot be used at all throws.
/// Memory while loading stays bounded by the list itself: files are read through a fixed buffer.
public struct IntelListBuilder: Sendable {
  public let name: String
  public let type: IndicatorType
  public let domainMatch: DomainMatch
  /// Diagnostics kept in full; the rest are only counted (`statistics.malformed`).
  public let diagnosticLimit: Int
  public internal(set) var statistics = IntelListStatistics()
  public private(set) var diagnostics: [Diagnostic] = []
  /// Entries kept that are probably mistakes (`IntelList.warnings`), up to `diagnosticLimit`.
  public private(set) var warnings: [Diagnostic] = []

  private var domains: DomainSet
  private var strings = StringSet()
  private var ports = PortSet()
  private var ipv4Prefixes: [(network: UInt32, length: UInt8, record: UInt32)] = []
  private var ipv6Prefixes: [(network: UInt128, length: UInt8, record: UInt32)] = []
  var origins = OriginTable()
  private var originNumbers: [IndicatorOrigin: UInt32] = [:]
  /// Distinct Zeek `meta.source` origins recorded, at most `maximumFeedSources`.
  private var feedSources = 0
  /// `IntelLimits.maximumFeedSourcesPerList`; tests give less.
  var maximumFeedSources = IntelLimits.maximumFeedSourcesPerList
  private var normalized: [UInt8] = []
  /// A hosts-file line's names, checked before any of them is listed (FeedFormats.swift).
  var hostNameScratch: [UInt8] = []
  /// Distinct Zeek types counted by name before the rest are counted as "other", so a hostile file
  /// cannot grow the statistics without bound.
  static let skippedTypeNameLimit = 64

  /// Indicators taken so far, kept or duplicate, and lines of types the list does not hold: what a
  /// loader compares before and after a file to tell one that gave nothing (`statistics.indicators`
  /// is counted by `build()` only).
  var entriesTaken: Int { origins.count + statistics.duplicates + statistics.skipped }

  /// Indicators this list holds at most (`IntelLimits.maximumIndicatorsPerList`; tests give less).
  let maximumRecords: Int
  /// Records one reservation makes room for at most (`IntelLimits.maximumIndicatorsReservedAtOnce`).
  let maximumReservation: Int

  public init(
    name: String, type: IndicatorType, domainMatch: DomainMatch = .exact,
    diagnosticLimit: Int = IntelLimits.warningsShownPerKind
  ) {
    self.init(
      name: name, type: type, domainMatch: domainMatch, diagnosticLimit: diagnosticLimit,
      maximumRecords: IntelLimits.maximumIndicatorsPerList)
  }

  init(
    name: String, type: IndicatorType, domainMatch: DomainMatch, diagnosticLimit: Int, maximumRecords: Int,
    maximumReservation: Int = IntelLimits.maximumIndicatorsReservedAtOnce
  ) {
    self.maximumRecords = maximumRecords
    self.maximumReservation = maximumReservation
    self.name = name
    self.type = type
    self.domainMatch = type == .domain ? domainMatch : .exact
    self.diagnosticLimit = diagnosticLimit
    domains = DomainSet(matching: self.domainMatch)
  }

  /// Reads a feed file; `displayName` (default `path`) is what diagnostics and matches call it. The
  /// structures are first sized from the file's indicator lines (one counting pass, unless `sized`
  /// says the caller reserved for it already).
  public mutating func loadFile(
    atPath path: String, format: FeedFormat, displayName: String? = nil
  ) throws(IntelFeedError) {
    try loadFile(atPath: path, format: format, displayName: displayName, sized: false)
  }

  mutating func loadFile(
    atPath path: String, format: FeedFormat, displayName: String?, sized: Bool
  ) throws(IntelFeedError) {
    if !sized, let extent = feedExtent(ofFileAt: path) { reserveCapacity(feedBytes: extent.bytes, lines: extent.lines) }
    var cursor = try FeedCursor(file: displayName ?? path, format: format)
    cursor.fileOrigin = originNumber(IndicatorOrigin(file: cursor.file))
    statistics.files += 1
    statistics.bytesRead += try forEachLine(ofFileAt: path) { (line) throws(IntelFeedError) in
      try consume(line, cursor: &cursor)
    }
  }

  /// Reads a feed held in memory, exactly as `loadFile` would read a file holding `bytes`.
  public mutating func loadFeed(
    bytes: UnsafeRawBufferPointer, file: String, format: FeedFormat
  ) throws(IntelFeedError) {
    var cursor = try FeedCursor(file: file, format: format)
    cursor.fileOrigin = originNumber(IndicatorOrigin(file: file))
    statistics.files += 1
    statistics.bytesRead += bytes.count
    try forEachLine(in: bytes) { (line) throws(IntelFeedError) in try consume(line, cursor: &cursor) }
  }

  public mutating func loadFeed(_ text: String, file: String, format: FeedFormat) throws(IntelFeedError) {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: text.utf8.count, alignment: 1)
    defer { buffer.deallocate() }
    _ = buffer.initializeMemory(as: UInt8.self, from: text.utf8)
    try loadFeed(bytes: UnsafeRawBufferPointer(buffer), file: file, format: format)
  }

  /// Sizes the structures for feeds of `feedBytes` bytes in `lines` lines more, taking a line for at
  /// most one indicator and an indicator's bytes for at most its line's: loading them then appends
  /// without ever doubling an array, and `build()` keeps what it filled instead of copying it. The
  /// room reserved beyond what the feeds fill (comments, duplicates) is never written, so it costs
  /// address space rather than resident memory; a hosts-file line of several names can pass the
  /// estimate, and then the arrays grow as they would have. At most `maximumReservation` records are
  /// reserved, and then the bytes of as many average lines.
  mutating func reserveCapacity(feedBytes: Int, lines: Int) {
    let records = max(0, min(lines, maximumRecords - origins.count, maximumReservation))
    guard records > 0 else { return }
    origins.reserveCapacity(records: records)
    let reservedBytes = records < lines ? Int(Double(feedBytes) / Double(lines) * Double(records)) : feedBytes
    // An entry in the arena is its bytes and a 2-byte length, where its line had at least a newline.
    let arenaBytes = min(reservedBytes + records, Int(UInt32.max))
    switch type {
    case .domain: domains.reserveCapacity(entries: records, bytes: arenaBytes)
    case .string: strings.reserveCapacity(entries: records, bytes: arenaBytes)
    case .address:
      // Either family may take every line; what the other leaves unwritten is never resident.
      ipv4Prefixes.reserveCapacity(ipv4Prefixes.count + records)
      ipv6Prefixes.reserveCapacity(ipv6Prefixes.count + records)
    case .port: break
    }
  }

  /// Records each array has room for (tests check what a feed made the builder reserve).
  var reservedRecords: (origins: Int, ipv4: Int, ipv6: Int) {
    (origins.reservedRecords, ipv4Prefixes.capacity, ipv6Prefixes.capacity)
  }

  /// Adds one inline item (a rule file's `items:`), positioned at `file:line:column`; whitespace
  /// around it is ignored. False, with a diagnostic, when it is not an indicator of this list's type.
  @discardableResult
  public mutating func addItem(_ item: String, file: String, line: Int, column: Int) -> Bool {
    let origin = originNumber(IndicatorOrigin(file: file))
    let malformedBefore = statistics.malformed
    let bytes = Array(item.utf8)
    bytes.withUnsafeBytes { buffer in
      let range = trimmed(buffer, 0..<buffer.count)
      insert(
        UnsafeRawBufferPointer(rebasing: buffer[range]), file: file, line: line,
        column: column + scalarCount(buffer, 0..<range.lowerBound), sourceLine: buffer, origin: origin,
        fromFeed: false)
    }
    return statistics.malformed == malformedBefore
  }

  /// The finished list: address blocks flattened into range tables, spare capacity dropped.
  public consuming func build() -> IntelList {
    let ipv4Source = ipv4Prefixes
    ipv4Prefixes = []
    let ipv4 = PrefixTable(prefixes: consume ipv4Source)
    let ipv6Source = ipv6Prefixes
    ipv6Prefixes = []
    let ipv6 = PrefixTable(prefixes: consume ipv6Source)
    domains.shrinkToFit()
    strings.shrinkToFit()
    origins.shrinkToFit()
    var statistics = self.statistics
    statistics.duplicates += ipv4.duplicates + ipv6.duplicates
    statistics.indicators = domains.count + strings.count + ports.count + ipv4.count + ipv6.count
    statistics.memoryBytes =
      domains.memoryBytes + strings.memoryBytes + ports.memoryBytes + ipv4.memoryBytes + ipv6.memoryBytes
      + origins.memoryBytes
    return IntelList(
      name: name, type: type, domainMatch: domainMatch, statistics: statistics, diagnostics: diagnostics,
      warnings: warnings, domains: domains, strings: strings, ports: ports, ipv4: ipv4, ipv6: ipv6, origins: origins)
  }

  // MARK: Shared by the formats

  mutating func originNumber(_ origin: IndicatorOrigin) -> UInt32 {
    if let number = originNumbers[origin] { return number }
    let number = origins.addOrigin(origin)
    originNumbers[origin] = number
    return number
  }

  /// A Zeek line's origin by its `meta.source`, or `fileOrigin` once the list holds
  /// `maximumFeedSources` distinct sources and this is another (counted).
  mutating func feedSourceOrigin(_ origin: IndicatorOrigin, fileOrigin: UInt32) -> UInt32 {
    if let number = originNumbers[origin] { return number }
    guard feedSources < maximumFeedSources else {
      statistics.feedSourcesPastLimit += 1
      return fileOrigin
    }
    feedSources += 1
    return originNumber(origin)
  }

  mutating func countSkippedType(_ typeName: UnsafeRawBufferPointer) {
    // Printed as it is by `rules check`'s summary and the log: escaped here, as a diagnostic's text is
    // when printed, or a feed's type name could clear the terminal or forge a line.
    var key = TerminalText.escapingControls(
      IndicatorParsing.text(UnsafeRawBufferPointer(rebasing: typeName.prefix(64))))
    if statistics.skippedTypes[key] == nil && statistics.skippedTypes.count >= Self.skippedTypeNameLimit {
      // No Zeek type has a blank or parentheses: this key cannot be a type's.
      key = "(other types)"
    }
    statistics.skippedTypes[key, default: 0] += 1
  }

  /// Parses `field` as an indicator of the list's type and adds it; a failure is a malformed diagnostic.
  /// `fromFeed`: read from a feed file, not a rule's `items:`; a feed's single-label names are
  /// refused (`IndicatorParsing.checkFeedDomain`).
  mutating func insert(
    _ field: UnsafeRawBufferPointer, file: String, line: Int, column: Int, sourceLine: UnsafeRawBufferPointer,
    origin: UInt32, fromFeed: Bool
  ) {
    let insertion: ByteTable.Insertion
    do throws(IndicatorError) {
      guard origins.count < maximumRecords else {
        throw IndicatorError(message: "list is full (\(maximumRecords) indicators, IntelLimits)")
      }
      switch type {
      case .domain:
        // Only a name ending in a digit can be an address (no top-level domain is numeric), or one
        // refused for its `:`, `[` or `/`: every other name is checked once, by the normalization.
        do throws(IndicatorError) {
          try IndicatorParsing.normalizeDomain(field, into: &normalized)
        } catch {
          throw IndicatorParsing.isAddressLiteral(field) ? IndicatorParsing.addressInDomainList(field) : error
        }
        if let last = normalized.last, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(last),
          normalized.withUnsafeBytes(IndicatorParsing.isAddressLiteral)
        {
          throw IndicatorParsing.addressInDomainList(field)
        }
        if fromFeed { try IndicatorParsing.checkFeedDomain(normalized, match: domainMatch) }
        let name = normalized
        insertion = name.withUnsafeBytes { domains.insert(normalized: $0) }
      case .string:
        guard !field.isEmpty else { throw IndicatorError(message: "empty string") }
        guard field.count <= maximumStringLength else {
          throw IndicatorError(message: "string longer than \(maximumStringLength) bytes")
        }
        insertion = strings.insert(field)
      case .port:
        insertion = ports.insert(try IndicatorParsing.parsePort(field))
      case .address:
        let (network, length) = try IndicatorParsing.parseNetwork(field)
        let record = origins.append(line: line, origin: origin)
        switch network {
        case .v4(let value): ipv4Prefixes.append((value, UInt8(length), record))
        case .v6(let high, let low): ipv6Prefixes.append((UInt128(high) << 64 | UInt128(low), UInt8(length), record))
        }
        if let breadth = IndicatorParsing.broadBlockWarning(field, network: network, length: length) {
          broadBlock(file: file, line: line, column: column, message: breadth, sourceLine: sourceLine)
        }
        return
      }
    } catch {
      malformed(file: file, line: line, column: column, message: error.message, sourceLine: sourceLine)
      return
    }
    switch insertion {
    case .inserted:
      _ = origins.append(line: line, origin: origin)
      if type == .string, fromFeed, IndicatorParsing.isUnlikeAnyName(field) {
        noteStringUnlikeAnyName(field, file: file, line: line, column: column)
      }
    case .duplicate: statistics.duplicates += 1
    case .full:
      malformed(
        file: file, line: line, column: column, message: "list is full (4 GiB of names)", sourceLine: sourceLine)
    }
  }

  /// Counted, and the first kept with its position, for a rule that tests the list on a name field
  /// (ConditionWarnings.swift): a warning per line would be millions of them for one case-folded feed.
  mutating func noteStringUnlikeAnyName(_ field: UnsafeRawBufferPointer, file: String, line: Int, column: Int) {
    statistics.stringsUnlikeAnyName += 1
    guard statistics.firstStringUnlikeAnyName == nil else { return }
    statistics.firstStringUnlikeAnyName = PositionedIndicator(
      text: String(decoding: field, as: UTF8.self), file: file, line: line, column: column)
  }

  /// A block kept but broad enough to be a mistake: a warning, counted in `statistics.broadBlocks`.
  mutating func broadBlock(
    file: String, line: Int, column: Int, message: String, sourceLine: UnsafeRawBufferPointer
  ) {
    statistics.broadBlocks += 1
    guard warnings.count < diagnosticLimit else { return }
    let shown = String(decoding: sourceLine.prefix(200), as: UTF8.self)
    warnings.append(Diagnostic(.warning, file: file, line: line, column: column, message: message, sourceLine: shown))
  }

  mutating func malformed(
    file: String, line: Int, column: Int, message: String, sourceLine: UnsafeRawBufferPointer
  ) {
    statistics.malformed += 1
    guard diagnostics.count < diagnosticLimit else { return }
    let shown = String(decoding: sourceLine.prefix(200), as: UTF8.self)
    diagnostics.append(
      Diagnostic(.warning, file: file, line: line, column: column, message: message, sourceLine: shown))
  }
}

/// 1 + the Unicode scalars before `offset`: a diagnostic's column.
func scalarCount(_ line: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int {
  var count = 0
  for index in range where line[index] & 0xC0 != 0x80 { count += 1 }
  return count
}

@inline(__always)
func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }

/// `range` without the spaces and tabs at either end.
func trimmed(_ line: UnsafeRawBufferPointer, _ range: Range<Int>) -> Range<Int> {
  var start = range.lowerBound
  var end = range.upperBound
  while start < end && isBlank(line[start]) { start += 1 }
  while end > start && isBlank(line[end - 1]) { end -= 1 }
  return start..<end
}

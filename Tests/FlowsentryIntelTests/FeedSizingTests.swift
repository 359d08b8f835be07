import FlowsentryCore
import Testing

@testable import FlowsentryIntel

/// A load is sized from its feeds before it reads them, so that no array doubles (a doubling holds
/// the old buffer and the new one at once, and a reload already holds two sets).
@Suite struct FeedSizingTests {
  static func domains(_ count: Int, from first: Int = 0) -> String {
    (first..<(first + count)).map { "host\($0).example\(($0 % 7) == 0 ? "." : "")\n" }.joined()
  }

  @Test func feedExtentCountsBytesAndLinesWithOrWithoutAFinalNewline() throws {
    let directory = try FeedDirectory()
    #expect(feedExtent(ofFileAt: try directory.write("a", "x\r\ny\n")).map { [$0.bytes, $0.lines] } == [5, 2])
    #expect(feedExtent(ofFileAt: try directory.write("b", "x\ny")).map { [$0.bytes, $0.lines] } == [3, 2])
    #expect(feedExtent(ofFileAt: try directory.write("c", "")).map { [$0.bytes, $0.lines] } == [0, 0])
    // Spanning several buffers.
    let large = try directory.write("d", Self.domains(5_000))
    #expect(feedExtent(ofFileAt: large, bufferSize: 4_096)?.lines == 5_000)
    #expect(feedExtent(ofFileAt: directory.url.path + "/missing") == nil)
    #expect(feedExtent(ofFileAt: directory.url.path) == nil)
  }

  @Test func aListLoadedFromFilesNeverGrowsItsArrays() throws {
    let directory = try FeedDirectory()
    _ = try directory.write("1.txt", "# a comment\n" + Self.domains(30_000))
    _ = try directory.write("2.txt", Self.domains(20_000, from: 25_000))
    let load = try IntelListLoader.load(
      IntelListSpecification(name: "c2", type: .domain, match: .suffix, files: ["*.txt"]),
      baseDirectory: directory.url.path)
    #expect(load.list.count == 45_000)
    #expect(load.list.statistics.duplicates == 5_000)
    #expect(load.list.domains.growths == 0)
    #expect(load.list.contains(domain: "a.host44999.example"))

    // Unsized, the same feed grows its arrays as they fill.
    var builder = IntelListBuilder(name: "c2", type: .domain, domainMatch: .suffix)
    try builder.loadFeed(Self.domains(30_000), file: "inline", format: .lines)
    #expect(builder.build().domains.growths > 10)
  }

  @Test func aSingleFileIsSizedByLoadFileToo() throws {
    let directory = try FeedDirectory()
    let path = try directory.write("feed.txt", Self.domains(10_000))
    var builder = IntelListBuilder(name: "c2", type: .domain, domainMatch: .suffix)
    try builder.loadFile(atPath: path, format: .lines)
    let list = builder.build()
    #expect(list.count == 10_000)
    #expect(list.domains.growths == 0)
    // The arena written, not the address space reserved: 10,000 names of 14-17 bytes and their lengths.
    #expect(list.statistics.memoryBytes < 10_000 * 64)
  }

  @Test func onlyLinesThatCanHoldAnIndicatorAreCounted() throws {
    let directory = try FeedDirectory()
    let path = try directory.write("a", "\n\n  \t\r\n# comment\n  # indented\nabc\n\n\tde\r\nf")
    // "abc\n", "de\r\n" (from its first non-blank byte) and "f".
    #expect(feedExtent(ofFileAt: path).map { [$0.bytes, $0.lines] } == [9, 3])
    // The same across buffer boundaries that cut a line, its leading blanks or a comment.
    for bufferSize in 1...7 {
      #expect(feedExtent(ofFileAt: path, bufferSize: bufferSize).map { [$0.bytes, $0.lines] } == [9, 3])
    }
    let scan = try FeedScanning.scan(path: path, countingLines: true).get()
    #expect([scan.lineBytes, scan.lines] == [9, 3])
  }

  /// 240,000 blank and comment lines around one name once reserved (and wrote) slots for 240,000.
  @Test func blankAndCommentLinesReserveNothing() throws {
    let directory = try FeedDirectory()
    let junk = String(repeating: "\n", count: 200_000) + String(repeating: "# note\n \t\r\n", count: 20_000)
    _ = try directory.write("feed.txt", junk + "evil.example\n" + junk)
    for type in [IndicatorType.domain, .string] {
      let load = try IntelListLoader.load(
        IntelListSpecification(name: "l", type: type, files: ["feed.txt"]), baseDirectory: directory.url.path)
      #expect(load.list.count == 1)
      #expect(load.list.statistics.memoryBytes < 4_096, "\(type)")
    }
  }

  /// Lines that looked like indicators but were malformed reserved slots, all written; the
  /// finished list keeps slots for what it holds.
  @Test func slotsReservedForMalformedLinesAreGivenBack() throws {
    let directory = try FeedDirectory()
    _ = try directory.write("feed.txt", String(repeating: "-\n", count: 50_000) + "evil.example\n")
    let load = try IntelListLoader.load(
      IntelListSpecification(name: "l", type: .domain, files: ["feed.txt"]), baseDirectory: directory.url.path)
    #expect(load.list.count == 1)
    #expect(load.list.statistics.malformed == 50_000)
    #expect(load.list.statistics.memoryBytes < 4_096)
  }

  /// An address list reserves its lines in both families: 100 MB of newlines asked for 3.2 GB (an
  /// abort under an address-space limit); now newlines reserve nothing, and junk lines no more
  /// than the cap.
  @Test func anAddressListReservesNothingForNewlinesAndAtMostTheCapForJunk() throws {
    let directory = try FeedDirectory()
    let newlines = try directory.write("n.txt", String(repeating: "\n", count: 300_000) + "192.0.2.1\n")
    var builder = IntelListBuilder(name: "a", type: .address)
    try builder.loadFile(atPath: newlines, format: .lines)
    #expect(builder.reservedRecords.origins < 100)
    #expect(builder.reservedRecords.ipv4 < 100)
    #expect(builder.reservedRecords.ipv6 < 100)

    let junk = try directory.write("j.txt", String(repeating: "x\n", count: 5_000) + "192.0.2.1\n")
    var capped = IntelListBuilder(
      name: "a", type: .address, domainMatch: .exact, diagnosticLimit: 10, maximumRecords: 1_000_000,
      maximumReservation: 1_000)
    capped.reserveCapacity(feedBytes: 10_002, lines: 5_001)
    #expect(capped.reservedRecords.origins < 1_100)
    #expect(capped.reservedRecords.ipv4 < 1_100)
    #expect(capped.reservedRecords.ipv6 < 1_100)
    try capped.loadFile(atPath: junk, format: .lines)
    #expect(capped.build().count == 1)
    #expect(IntelLimits.maximumIndicatorsReservedAtOnce >= 10_000_000)
  }
}

import Foundation
import SystemPackage
import Testing

@testable import FlowsentrySpool

#if canImport(Glibc)
  import Glibc
#endif

/// Damage to segments and to the committed file: what is intact is delivered once, the rest counted.
@Suite struct SpoolDamageTests {
  let directory: FilePath

  init() {
    directory = FilePath(
      FileManager.default.temporaryDirectory.appendingPathComponent("flowsentry-spool-\(UUID().uuidString)").path)
  }

  func remove() { try? FileManager.default.removeItem(atPath: directory.string) }

  static func payload(_ index: Int) -> [UInt8] {
    Array("alert \(index) \u{2603} \(String(repeating: "x", count: index))".utf8)
  }

  /// Ten records in one segment, written by the spool; returns the segment's path and bytes.
  func writeTenRecords() throws -> (String, [UInt8]) {
    do {
      let spool = try Spool(directory: directory)
      for index in 1...10 { spool.append(Self.payload(index), rank: UInt8(index % 6), now: 0) }
    }
    let name = try #require(
      try FileManager.default.contentsOfDirectory(atPath: directory.string).first { $0.hasSuffix(".seg") })
    let path = directory.appending(name).string
    return (path, try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
  }

  func drain(_ spool: Spool) -> [Spool.Record] {
    var records: [Spool.Record] = []
    while true {
      let batch = spool.next(limit: 3)
      if batch.isEmpty { return records }
      records += batch
    }
  }

  /// The issue's acceptance test: every byte of the first three records flipped, one at a time (all
  /// bits, then the lowest only). Whatever byte it was, the other nine records arrive once, in order,
  /// and the damage is counted.
  @Test func everyByteOfTheFirstRecordsFlippedCostsOnlyItsRecord() throws {
    defer { remove() }
    let (path, pristine) = try writeTenRecords()
    var frameEnds: [Int] = []
    var offset = 0
    for index in 1...10 {
      offset += SegmentFormat.headerSize + Self.payload(index).count
      frameEnds.append(offset)
    }
    #expect(offset == pristine.count)
    for flip in [UInt8(0xff), 0x01] {
      for position in 0..<frameEnds[2] {
        let damaged = frameEnds.firstIndex { position < $0 }! + 1
        var bytes = pristine
        bytes[position] ^= flip
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try? FileManager.default.removeItem(atPath: directory.appending("committed").string)
        let spool = try Spool(directory: directory)
        let records = drain(spool)
        let expected = (1...10).filter { $0 != damaged }
        #expect(records.map(\.sequence) == expected.map(UInt64.init), "byte \(position) ^ \(flip)")
        #expect(records.map(\.payload) == expected.map(Self.payload), "byte \(position) ^ \(flip)")
        #expect(spool.counters.recoveredRecords == 9)
        #expect(spool.counters.damagedRecords >= 1, "byte \(position) ^ \(flip)")
        #expect(spool.counters.damagedBytes >= 1)
        #expect(spool.counters.damagedSegments == 1)
        #expect(spool.recoveryNotes.contains { $0.contains("damaged") })
      }
    }
  }

  /// A length made huge, small, or zero: the reader does not trust it, and finds the next record.
  @Test(arguments: [UInt32(0xffff_ffff), 4 << 20, 0, 3])
  func aWrongLengthDoesNotHideTheRecordsAfterIt(_ length: UInt32) throws {
    defer { remove() }
    let (path, pristine) = try writeTenRecords()
    var bytes = pristine
    withUnsafeBytes(of: length.littleEndian) { bytes.replaceSubrange(4..<8, with: $0) }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let spool = try Spool(directory: directory)
    #expect(drain(spool).map(\.sequence) == Array(2...10))
    #expect(spool.counters.damagedRecords == 1)
    #expect(spool.counters.damagedBytes == UInt64(SegmentFormat.headerSize + Self.payload(1).count))
  }

  /// A segment written by the previous version (one CRC over sequence, rank and payload, no header
  /// checksum) and its unchecksummed committed file are still read, and resynchronized past damage.
  @Test func aVersionOneSpoolIsStillRecovered() throws {
    defer { remove() }
    try FileManager.default.createDirectory(atPath: directory.string, withIntermediateDirectories: true)
    var bytes: [UInt8] = []
    for index in 1...8 {
      let payload = Self.payload(index)
      var crc = CRC32C()
      withUnsafeBytes(of: UInt64(index).littleEndian) { crc.update($0) }
      crc.update(byte: 2)
      payload.withUnsafeBytes { crc.update($0) }
      withUnsafeBytes(of: UInt32(0x3152_5346).littleEndian) { bytes += $0 }
      withUnsafeBytes(of: UInt32(payload.count).littleEndian) { bytes += $0 }
      withUnsafeBytes(of: crc.value.littleEndian) { bytes += $0 }
      withUnsafeBytes(of: UInt64(index).littleEndian) { bytes += $0 }
      bytes.append(2)
      bytes += payload
    }
    // Record 5's length flipped: the old reader stopped there.
    let fifth = (1...4).reduce(0) { $0 + SegmentFormat.legacyHeaderSize + Self.payload($1).count }
    bytes[fifth + 5] ^= 0x10
    try Data(bytes).write(to: URL(fileURLWithPath: directory.appending("00000000000000000001.seg").string))
    try Data("2 3\n".utf8).write(to: URL(fileURLWithPath: directory.appending("committed").string))
    let spool = try Spool(directory: directory)
    #expect(spool.lastCommitted == 2)
    #expect(spool.previouslySent == 3)
    #expect(drain(spool).map(\.sequence) == [3, 4, 6, 7, 8])
    #expect(spool.counters.damagedRecords == 1)
    #expect(spool.counters.committedFallbacks == 0)
    // New records are written in the new format beside the old ones.
    #expect(spool.append(Self.payload(9), rank: 2, now: 0) == 9)
    spool.commit(through: 4)
    spool.sync()
    let text = try String(contentsOfFile: directory.appending("committed").string, encoding: .utf8)
    #expect(text.hasPrefix("FSC2 4 4 "))
  }

  /// Reads a segment through the reader alone: the buffer it needed, and what it found.
  func readAlone(_ path: FilePath) throws -> (records: [UInt64], reader: SegmentReader) {
    let reader = try SegmentReader(path: path)
    var records: [UInt64] = []
    while let (record, _) = try reader.next() { records.append(record.sequence) }
    try reader.close()
    return (records, reader)
  }

  @Test func aTornHeaderAtTheEndIsATailNotARecord() throws {
    defer { remove() }
    let (path, pristine) = try writeTenRecords()
    try Data(pristine + pristine.prefix(SegmentFormat.headerSize - 3)).write(to: URL(fileURLWithPath: path))
    let (records, reader) = try readAlone(FilePath(path))
    #expect(records == Array(1...10))
    #expect(reader.damagedRecords == 1)
    #expect(reader.damagedBytes == Int64(SegmentFormat.headerSize - 3))
    #expect(reader.goodEnd == Int64(pristine.count))
  }

  /// A record copied after itself (an old block written again): delivered once.
  @Test func aRecordRepeatedIsDeliveredOnce() throws {
    defer { remove() }
    let (path, pristine) = try writeTenRecords()
    let first = SegmentFormat.headerSize + Self.payload(1).count
    try Data(Array(pristine[..<first]) + Array(pristine)).write(to: URL(fileURLWithPath: path))
    let spool = try Spool(directory: directory)
    #expect(drain(spool).map(\.sequence) == Array(1...10))
    #expect(spool.counters.damagedRecords == 1)
  }
}

import Foundation
import SystemPackage
import Testing

@testable import FlowsentrySpool

@Suite struct SpoolTests {
  let directory: FilePath

  init() {
    directory = FilePath(
      FileManager.default.temporaryDirectory.appendingPathComponent("flowsentry-spool-\(UUID().uuidString)").path)
  }

  func payload(_ index: Int) -> [UInt8] { Array("alert \(index) \u{2603}".utf8) }

  func segmentFiles() throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.string).filter { $0.hasSuffix(".seg") }.sorted()
  }

  func remove() { try? FileManager.default.removeItem(atPath: directory.string) }

  /// The check value and RFC 3720's (iSCSI, appendix B.4) test vectors.
  @Test(
    arguments: [
      (Array("123456789".utf8), UInt32(0xE306_9283)), ([UInt8](repeating: 0, count: 32), UInt32(0x8A91_36AA)),
      ([UInt8](repeating: 0xff, count: 32), UInt32(0x62A8_AB43)), ((0..<32).map { UInt8($0) }, UInt32(0x46DD_794E)),
    ] as [([UInt8], UInt32)])
  func crc32cMatchesPublishedVectors(_ input: [UInt8], _ expected: UInt32) {
    var crc = CRC32C()
    input.withUnsafeBytes { crc.update($0) }
    #expect(crc.value == expected)
    var split = CRC32C()
    input.prefix(5).withUnsafeBytes { split.update($0) }
    input.dropFirst(5).withUnsafeBytes { split.update($0) }
    #expect(split.value == expected)
  }

  @Test func whatIsNotCommittedSurvivesAReopenInOrder() throws {
    defer { remove() }
    do {
      let spool = try Spool(directory: directory)
      for index in 1...10 { #expect(spool.append(payload(index), rank: 3, now: 0) == UInt64(index)) }
      let first = spool.next(limit: 4)
      #expect(first.map(\.sequence) == [1, 2, 3, 4])
      spool.commit(through: 4)
      #expect(spool.pendingRecords == 6)
      #expect(spool.counters.committed == 4)
    }
    let reopened = try Spool(directory: directory)
    #expect(reopened.counters.recoveredRecords == 6)
    #expect(reopened.lastCommitted == 4)
    let rest = reopened.next(limit: 100)
    #expect(rest.map(\.sequence) == Array(5...10))
    #expect(rest.map(\.payload) == (5...10).map(payload))
    #expect(reopened.append(payload(11), rank: 3, now: 0) == 11)
  }

  @Test func rewindHandsOutEveryUncommittedRecordAgain() throws {
    defer { remove() }
    let spool = try Spool(directory: directory)
    for index in 1...5 { spool.append(payload(index), rank: 1, now: 0) }
    #expect(spool.next(limit: 3).map(\.sequence) == [1, 2, 3])
    spool.commit(through: 1)
    #expect(spool.next(limit: 10).map(\.sequence) == [4, 5])
    #expect(spool.next(limit: 10).isEmpty)
    spool.rewind()
    #expect(spool.next(limit: 10).map(\.sequence) == [2, 3, 4, 5])
  }

  @Test func segmentsRollOverAndLeaveOnceCommitted() throws {
    defer { remove() }
    var configuration = Spool.Configuration()
    configuration.segmentBytes = 200
    let spool = try Spool(directory: directory, configuration: configuration)
    for index in 1...20 { spool.append(payload(index), rank: 2, now: 0) }
    #expect(try segmentFiles().count > 3)
    #expect(spool.next(limit: 100).count == 20)
    spool.commit(through: 20)
    #expect(spool.pendingRecords == 0)
    #expect(try segmentFiles().count <= 1)
    spool.append(payload(21), rank: 2, now: 0)
    spool.rewind()
    #expect(spool.next(limit: 100).map(\.sequence) == [21])
  }

  @Test func aTornTailIsCutAtTheLastGoodRecordAndCounted() throws {
    defer { remove() }
    do {
      let spool = try Spool(directory: directory)
      for index in 1...10 { spool.append(payload(index), rank: 3, now: 0) }
    }
    let path = directory.appending(try #require(try segmentFiles().last)).string
    let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
    #expect(truncate(path, off_t(size - 5)) == 0)
    let spool = try Spool(directory: directory)
    #expect(spool.counters.recoveredRecords == 9)
    #expect(spool.counters.damagedSegments == 1)
    #expect(spool.counters.damagedBytes > 0)
    #expect(spool.next(limit: 100).map(\.payload) == (1...9).map(payload))
    let next = try #require(spool.append(payload(99), rank: 3, now: 0))
    #expect(next == 10)
    #expect(spool.next(limit: 100).map(\.payload) == [payload(99)])
  }

  @Test func aCorruptedRecordCostsOnlyItself() throws {
    defer { remove() }
    do {
      let spool = try Spool(directory: directory)
      for index in 1...5 { spool.append(payload(index), rank: 3, now: 0) }
    }
    let path = directory.appending(try #require(try segmentFiles().first)).string
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let recordSize = bytes.count / 5
    bytes[recordSize * 2 + recordSize - 1] ^= 0xff  // the last payload byte of record 3
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let spool = try Spool(directory: directory)
    #expect(spool.counters.damagedRecords == 1)
    #expect(spool.next(limit: 100).map(\.sequence) == [1, 2, 4, 5])
  }

  @Test func garbageSegmentsAndAGarbageCommitFileDoNotStopIt() throws {
    defer { remove() }
    try FileManager.default.createDirectory(atPath: directory.string, withIntermediateDirectories: true)
    try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 37) }).write(
      to: URL(fileURLWithPath: directory.appending("00000000000000000001.seg").string))
    try Data("not a number".utf8).write(to: URL(fileURLWithPath: directory.appending("committed").string))
    let spool = try Spool(directory: directory)
    #expect(spool.counters.recoveredRecords == 0)
    #expect(spool.counters.damagedBytes == 4096)
    #expect(spool.append(payload(1), rank: 1, now: 0) != nil)
    #expect(spool.next(limit: 10).map(\.payload) == [payload(1)])
  }

  @Test func aFullSpoolGivesUpTheLowestRankFirst() throws {
    defer { remove() }
    var configuration = Spool.Configuration()
    configuration.maximumBytes = 2_000
    configuration.segmentBytes = 500
    let spool = try Spool(directory: directory, configuration: configuration)
    var appended = 0
    while spool.append(payload(appended), rank: 1, now: 0) != nil { appended += 1 }
    #expect(spool.counters.droppedFull[1] == 1)
    #expect(spool.bytes <= 2_000)
    // A critical alert makes room by dropping the oldest info ones.
    for index in 0..<5 { #expect(spool.append(payload(1000 + index), rank: 5, now: 0) != nil) }
    #expect(spool.counters.droppedFull[1] > 1)
    let held = spool.next(limit: 1000)
    #expect(held.filter { $0.rank == 5 }.count == 5)
    #expect(held.map(\.sequence) == held.map(\.sequence).sorted())
    #expect(spool.bytes <= 2_000)
    // Once only critical ones are left, a lower one is the one dropped.
    while spool.append(payload(2000), rank: 5, now: 0) != nil {}
    let droppedCritical = spool.counters.droppedFull[5]
    #expect(spool.append(payload(3000), rank: 2, now: 0) == nil)
    #expect(spool.counters.droppedFull[2] == 1)
    #expect(spool.counters.droppedFull[5] == droppedCritical)
  }

  @Test func committingFreesRoomForNewRecords() throws {
    defer { remove() }
    var configuration = Spool.Configuration()
    configuration.maximumBytes = 1_000
    configuration.segmentBytes = 300
    let spool = try Spool(directory: directory, configuration: configuration)
    var last: UInt64 = 0
    while let sequence = spool.append(payload(1), rank: 3, now: 0) { last = sequence }
    spool.commit(through: last)
    #expect(spool.append(payload(2), rank: 3, now: 0) != nil)
    #expect(spool.counters.droppedFull[3] == 1)
  }
}

extension SpoolTests {
  @Test func whatWasHandedToAReceiverIsRememberedAcrossAReopen() throws {
    defer { remove() }
    do {
      let spool = try Spool(directory: directory)
      for index in 1...8 { spool.append(payload(index), rank: 2, now: 0) }
      _ = spool.next(limit: 5)
      spool.markSent(through: 5)
      spool.commit(through: 2)
    }
    let reopened = try Spool(directory: directory)
    #expect(reopened.lastCommitted == 2)
    #expect(reopened.previouslySent == 5)
    #expect(reopened.next(limit: 100).map(\.sequence) == Array(3...8))
  }
}

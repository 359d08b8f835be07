import FlowsentryCore
import Foundation
import SystemPackage
import Testing

@testable import FlowsentrySpool

/// Random spools damaged at random (bytes flipped, stretches overwritten or zeroed, garbage inserted,
/// tails cut, the committed file spoiled), from a fixed seed. Whatever the damage: no crash, every
/// intact record delivered exactly once and in order, nothing delivered that was not appended, and
/// damage inside a record counted.
@Suite struct SpoolFuzzTests {
  struct Written {
    var sequence: UInt64
    var payload: [UInt8]
    var file: String
    var start: Int
    var end: Int
  }

  @Test func randomDamageNeverCostsAnIntactRecord() throws {
    var generator = SeededRandom(seed: 0x5EED_F10E)
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("flowsentry-fuzz-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: root) }
    for round in 0..<300 {
      let directory = FilePath(root.appendingPathComponent("\(round)").path)
      try fuzzRound(directory, &generator, round)
      try FileManager.default.removeItem(atPath: directory.string)
    }
  }

  func fuzzRound(_ directory: FilePath, _ generator: inout SeededRandom, _ round: Int) throws {
    var configuration = Spool.Configuration()
    configuration.segmentBytes = Int64.random(in: 300...3000, using: &generator)
    var committed: UInt64 = 0
    var payloads: [UInt64: [UInt8]] = [:]
    do {
      let spool = try Spool(directory: directory, configuration: configuration)
      for _ in 0..<Int.random(in: 1...40, using: &generator) {
        let payload = (0..<Int.random(in: 1...300, using: &generator)).map { _ in
          UInt8.random(in: 0...255, using: &generator)
        }
        let sequence = try #require(spool.append(payload, rank: UInt8.random(in: 0...5, using: &generator), now: 0))
        payloads[sequence] = payload
      }
      if Bool.random(using: &generator) {
        committed = UInt64.random(in: 0...UInt64(payloads.count), using: &generator)
        _ = spool.next(limit: Int(committed))
        spool.commit(through: committed)
      }
      spool.sync()
    }
    // Where each record lies on disk, from the files as written.
    var written: [Written] = []
    var files: [String: [UInt8]] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: directory.string) where name.hasSuffix(".seg") {
      let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory.appending(name).string)))
      files[name] = bytes
      var offset = 0
      while offset < bytes.count {
        let sequence = bytes[(offset + 8)..<(offset + 16)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let end = offset + SegmentFormat.headerSize + payloads[sequence]!.count
        written.append(Written(sequence: sequence, payload: payloads[sequence]!, file: name, start: offset, end: end))
        offset = end
      }
    }
    // Damage: in place (flips, overwrites, zeros), then maybe one insertion or a cut tail.
    var intact = Set(written.map(\.sequence))
    var damagedInside = false
    for name in files.keys.sorted() where Int.random(in: 0..<3, using: &generator) > 0 {
      var bytes = files[name]!
      let original = bytes
      for _ in 0..<Int.random(in: 1...3, using: &generator) where !bytes.isEmpty {
        let at = Int.random(in: 0..<bytes.count, using: &generator)
        let length = min(bytes.count - at, Int.random(in: 1...40, using: &generator))
        switch Int.random(in: 0..<3, using: &generator) {
        case 0: bytes[at] ^= UInt8.random(in: 1...255, using: &generator)
        case 1: for index in at..<at + length { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
        default: for index in at..<at + length { bytes[index] = 0 }
        }
      }
      let changed = Set(bytes.indices.filter { bytes[$0] != original[$0] })
      var cut: Int?
      var inserted: Int?
      switch Int.random(in: 0..<4, using: &generator) {
      case 0: cut = Int.random(in: 0...bytes.count, using: &generator)
      case 1: inserted = Int.random(in: 0...bytes.count, using: &generator)
      default: break
      }
      for record in written where record.file == name {
        let touched =
          changed.contains { $0 >= record.start && $0 < record.end } || (cut.map { record.end > $0 } ?? false)
          || (inserted.map { $0 > record.start && $0 < record.end } ?? false)
        if touched {
          intact.remove(record.sequence)
          if cut == nil || changed.contains(where: { $0 >= record.start && $0 < record.end }) { damagedInside = true }
        }
      }
      if let cut { bytes.removeSubrange(cut...) }
      if let inserted {
        let garbage = (0..<Int.random(in: 1...64, using: &generator)).map { _ in
          UInt8.random(in: 0...255, using: &generator)
        }
        bytes.insert(contentsOf: garbage, at: inserted)
      }
      try Data(bytes).write(to: URL(fileURLWithPath: directory.appending(name).string))
    }
    var committedSpoiled = false
    let committedURL = URL(fileURLWithPath: directory.appending("committed").string)
    if Int.random(in: 0..<4, using: &generator) == 0, var text = try? [UInt8](Data(contentsOf: committedURL)),
      !text.isEmpty
    {
      text[Int.random(in: 0..<text.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
      try Data(text).write(to: committedURL)
      committedSpoiled = true
    }

    let spool = try Spool(directory: directory, configuration: configuration)
    var delivered: [Spool.Record] = []
    while case let batch = spool.next(limit: Int.random(in: 1...10, using: &generator)), !batch.isEmpty {
      delivered += batch
    }
    let context = "round \(round)"
    #expect(delivered.map(\.sequence) == delivered.map(\.sequence).sorted(), "\(context)")
    #expect(Set(delivered.map(\.sequence)).count == delivered.count, "\(context)")
    for record in delivered { #expect(payloads[record.sequence] == record.payload, "\(context): \(record.sequence)") }
    let highest = intact.max() ?? 0
    let fellBack = spool.counters.committedFallbacks > 0
    #expect(fellBack || !committedSpoiled, "\(context): a spoiled committed file was trusted")
    let floor = fellBack || committed > highest ? 0 : committed
    let expected = intact.filter { $0 > floor }
    #expect(
      expected.isSubset(of: Set(delivered.map(\.sequence))),
      "\(context): lost \(expected.subtracting(delivered.map(\.sequence)).sorted())")
    if damagedInside && intact.count < written.count { #expect(spool.counters.damagedRecords > 0, "\(context)") }
  }
}

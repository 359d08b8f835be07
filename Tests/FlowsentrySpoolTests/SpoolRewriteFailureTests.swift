import FlowsentryTestSupport
import Foundation
import SystemPackage
import Testing

@testable import FlowsentrySpool

#if canImport(Glibc)
  import Glibc
#endif

/// A small tmpfs mounted for one test, removed after. Needs root; without it the test is skipped
/// (and fails when FLOWSENTRY_REQUIRE_BPF=1, which asks that nothing be skipped).
final class TemporaryMount {
  static let canMount =
    geteuid() == 0 || ProcessInfo.processInfo.environment["FLOWSENTRY_REQUIRE_BPF"] == "1"
  let path: String

  init(kibibytes: Int) throws {
    path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-tmpfs-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    try Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kibibytes)k,mode=0700", "tmpfs", path])
  }

  func remount(readOnly: Bool) throws {
    try Self.run("/bin/mount", ["-o", readOnly ? "remount,ro" : "remount,rw", path])
  }

  deinit {
    try? Self.run("/bin/umount", [path])
    try? FileManager.default.removeItem(atPath: path)
  }

  /// Throws `ChildProcessError.failed` (with the tool's stderr) unless it exits with 0.
  static func run(_ tool: String, _ arguments: [String]) throws {
    try ChildProcess.output(of: tool, arguments, timeout: .seconds(30))
  }

  /// Fills what is left of the filesystem; returns the filler's path.
  func fill() throws -> String {
    let filler = path + "/filler"
    let descriptor = try FileDescriptor.open(
      FilePath(filler), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite])
    defer { try? descriptor.close() }
    let block = [UInt8](repeating: 0xaa, count: 4096)
    while true {
      do { _ = try block.withUnsafeBytes { try descriptor.write($0) } } catch Errno.noSpace { break }
    }
    // A last partial page.
    while (try? [UInt8](repeating: 0, count: 1).withUnsafeBytes { try descriptor.write($0) }) == 1 {}
    return filler
  }
}

/// A spool whose segments cannot be rewritten (a full disk, a read-only remount): making room fails,
/// counted, and is tried again a second later, never in a loop.
@Suite(.serialized, .enabled(if: TemporaryMount.canMount, "needs root to mount a small tmpfs"))
struct SpoolRewriteFailureTests {
  static let recordPayload = [UInt8](repeating: 0x61, count: 200)
  static let recordSize = Int64(SegmentFormat.headerSize + 200)

  static func configuration() -> Spool.Configuration {
    var configuration = Spool.Configuration()
    configuration.maximumBytes = 96 << 10
    configuration.segmentBytes = 16 << 10
    return configuration
  }

  /// Info and low alerts, alternating, until the next record needs room made for it.
  static func fillToTheLimit(_ spool: Spool) {
    var index = 0
    while spool.bytes + recordSize <= configuration().maximumBytes {
      #expect(spool.append(recordPayload, rank: UInt8(1 + index % 2), now: 0) != nil)
      index += 1
    }
    spool.sync()
  }

  @Test func aFullDiskFailsTheRewriteOnceASecondAndThenMakesRoom() throws {
    let mount = try TemporaryMount(kibibytes: 256)
    let spool = try Spool(directory: FilePath(mount.path + "/spool"), configuration: Self.configuration())
    Self.fillToTheLimit(spool)
    let held = spool.pendingRecords
    let filler = try mount.fill()

    let started = Date()
    #expect(spool.append(Self.recordPayload, rank: 5, now: 0) == nil)
    #expect(spool.counters.failedRewrites == 1)
    #expect(spool.counters.failedAppends == 1)
    #expect(spool.lastAppendError == .noSpace)
    #expect(spool.counters.droppedFull == Array(repeating: 0, count: Int(Spool.ranks)))
    // Paused: the next one fails at once, without another rewrite.
    #expect(spool.append(Self.recordPayload, rank: 5, now: 0) == nil)
    #expect(spool.counters.failedRewrites == 1)
    #expect(spool.counters.failedAppends == 2)
    #expect(Date().timeIntervalSince(started) < 1)
    #expect(spool.pendingRecords == held)
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: mount.path + "/spool").allSatisfy { !$0.hasSuffix(".tmp") })

    // Room on the disk again, and the pause over: the info alerts make room for the critical one.
    #expect(unlink(filler) == 0)
    usleep(1_050_000)
    #expect(spool.append(Self.recordPayload, rank: 5, now: 0) != nil)
    #expect(spool.counters.failedRewrites == 1)
    #expect(spool.counters.droppedFull[1] > 0)
    #expect(spool.bytes <= Self.configuration().maximumBytes)
    var records: [Spool.Record] = []
    while case let batch = spool.next(limit: 100), !batch.isEmpty { records += batch }
    #expect(records.count == spool.pendingRecords)
    #expect(records.filter { $0.rank == 5 }.count == 1)
    #expect(records.map(\.sequence) == records.map(\.sequence).sorted())
  }

  @Test func aReadOnlyRemountFailsTheRewriteAndKeepsEveryRecord() throws {
    let mount = try TemporaryMount(kibibytes: 512)
    let spool = try Spool(directory: FilePath(mount.path + "/spool"), configuration: Self.configuration())
    Self.fillToTheLimit(spool)
    let held = spool.pendingRecords
    // The active segment is the only file open for writing; remount refuses while it is.
    spool.closeActive(ifAt: spool.segments.count - 1)
    try mount.remount(readOnly: true)
    defer { try? mount.remount(readOnly: false) }

    #expect(spool.append(Self.recordPayload, rank: 5, now: 0) == nil)
    #expect(spool.counters.failedRewrites == 1)
    #expect(spool.lastAppendError == .readOnlyFileSystem)
    #expect(spool.pendingRecords == held)
    var records: [Spool.Record] = []
    while case let batch = spool.next(limit: 100), !batch.isEmpty { records += batch }
    #expect(records.count == held)
    // The committed position cannot be written either: counted, not ignored.
    spool.commit(through: 3)
    spool.sync()
    #expect(spool.counters.failedFileOperations > 0)
    #expect(spool.lastFileError?.contains("committed") == true)
  }

  /// Appends that meet a full disk (not the spool's limit): the batch is cut back off the segment,
  /// counted, and the spool goes on, with no damage left for the next open.
  @Test func appendsOnAFullDiskAreCutBackAndCounted() throws {
    let mount = try TemporaryMount(kibibytes: 128)
    let directory = FilePath(mount.path + "/spool")
    var appended = 0
    do {
      let spool = try Spool(directory: directory)
      while spool.append(Self.recordPayload, rank: 3, now: 0) != nil, spool.counters.failedAppends == 0 {
        spool.flushAppends()
        appended = Int(spool.counters.appended)
      }
      spool.flushAppends()  // the last one, buffered, meets the full disk too
      #expect(spool.counters.failedAppends > 0)
      #expect(spool.lastAppendError == .noSpace)
      #expect(spool.counters.failedRewrites == 0)
      #expect(spool.pendingRecords == appended)
      #expect(spool.pendingRecords > 100)
    }
    let reopened = try Spool(directory: directory)
    #expect(reopened.counters.recoveredRecords == UInt64(appended))
    #expect(reopened.counters.damagedRecords == 0)
  }
}

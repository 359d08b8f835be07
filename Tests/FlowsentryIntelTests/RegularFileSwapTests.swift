import Foundation
import Testing

@testable import FlowsentryCore

/// The file `RegularFile.openForReading` examines is the one it opens for reading, whatever the path
/// names by then: a FIFO or device swapped in after the examination is never opened.
@Suite struct RegularFileSwapTests {
  static func contents(of descriptor: Int32) -> String {
    var buffer = [UInt8](repeating: 0, count: 256)
    let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
    return String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
  }

  @Test func aFIFOSwappedInAfterTheCheckIsNotOpened() throws {
    let directory = try FeedDirectory()
    let path = try directory.write("feed.txt", "a.example\n")
    var examined = stat()
    try #require(stat(path, &examined) == 0)
    let fifo = directory.url.appendingPathComponent("swap.fifo").path
    try #require(mkfifo(fifo, 0o600) == 0)
    var result: Result<(descriptor: Int32, status: stat), RegularFile.Failure>?
    let opens = try FeedFileKindTests.opens(of: fifo) {
      result = Result { () throws(RegularFile.Failure) in
        try RegularFile.openForReading(path, maximumBytes: .max, afterCheck: { _ = rename(fifo, path) })
      }
    }
    #expect(opens == 0)
    var swapped = stat()
    try #require(stat(path, &swapped) == 0)
    #expect(RegularFile.kind(of: swapped) == "a FIFO")
    let opened = try #require(try? result?.get())
    defer { _ = close(opened.descriptor) }
    #expect(opened.status.st_ino == examined.st_ino && opened.status.st_dev == examined.st_dev)
    #expect(Self.contents(of: opened.descriptor) == "a.example\n")
  }

  @Test func aRegularFileIsOpenedAsTheInodeItsPathNames() throws {
    let directory = try FeedDirectory()
    let path = try directory.write("feed.txt", "b.example\n")
    var named = stat()
    try #require(stat(path, &named) == 0)
    let opened = try RegularFile.openForReading(path)
    defer { _ = close(opened.descriptor) }
    var status = stat()
    try #require(fstat(opened.descriptor, &status) == 0)
    #expect(status.st_ino == named.st_ino && status.st_dev == named.st_dev)
    #expect(opened.status.st_ino == named.st_ino)
    #expect(fcntl(opened.descriptor, F_GETFL) & O_ACCMODE == O_RDONLY)
    #expect(Self.contents(of: opened.descriptor) == "b.example\n")
  }

  @Test func aSymbolicLinkToAFIFOIsRefusedWithoutBeingOpened() throws {
    let directory = try FeedDirectory()
    let fifo = directory.url.appendingPathComponent("feed.fifo").path
    try #require(mkfifo(fifo, 0o600) == 0)
    let link = directory.url.appendingPathComponent("feed.txt").path
    try #require(symlink(fifo, link) == 0)
    let clock = ContinuousClock()
    let start = clock.now
    var reason: String?
    let opens = try FeedFileKindTests.opens(of: fifo) {
      do throws(RegularFile.Failure) {
        let opened = try RegularFile.openForReading(link)
        _ = close(opened.descriptor)
      } catch {
        reason = error.reason
      }
    }
    #expect(reason == "not a regular file (a FIFO)")
    #expect(opens == 0)
    #expect(clock.now - start < .seconds(1))
  }
}

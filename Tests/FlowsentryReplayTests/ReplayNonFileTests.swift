import FlowsentryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `flowsentry replay` of a path that is not a regular file: telling a recording from a capture
/// reads the first byte, which a pipe would not give back, so such a path is refused, named and
/// counted, never replayed as an empty file nor waited on (a pipe with no writer blocks its reader).
@Suite struct ReplayNonFileTests {
  @Test func aPipeAndADirectoryAreRefusedWithTheirKindAndTheRunFails() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-replay-nonfile-\(getpid())").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let pipe = directory + "/events.fifo"
    #expect(mkfifo(pipe, 0o600) == 0)

    let result = try ChildProcess.run(flowsentryBinary, ["replay", pipe, directory], timeout: .seconds(30))
    #expect(result.status != 0, "\(result.stderr)")
    #expect(result.stderr.contains("\(pipe): a pipe: replay reads capture files and recordings"), "\(result.stderr)")
    #expect(result.stderr.contains("\(directory): a directory"), "\(result.stderr)")
  }
}

import Foundation
import Testing

@testable import FlowsentryOutput

@Suite struct RotatedFileSetTests {
  private func directory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("fs-rotate-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  private func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

  @Test func shiftMovesEachFileUpAndDropsTheOldest() throws {
    let root = try directory()
    defer { try? FileManager.default.removeItem(at: root) }
    let files = RotatedFileSet(path: root.appendingPathComponent("events.jsonl").path, keep: 3)
    for (index, text) in ["current", "newest", "oldest"].enumerated() {
      try text.write(toFile: files.name(index), atomically: false, encoding: .utf8)
    }
    try files.shift()
    #expect(contents(files.name(0)) == nil)
    #expect(contents(files.name(1)) == "current")
    #expect(contents(files.name(2)) == "newest")
    #expect(contents(files.path + ".3") == nil)
  }

  @Test func missingNumbersAreNoError() throws {
    let root = try directory()
    defer { try? FileManager.default.removeItem(at: root) }
    let files = RotatedFileSet(path: root.appendingPathComponent("out.log").path, keep: 4)
    try "only".write(toFile: files.path, atomically: false, encoding: .utf8)
    try files.shift()
    #expect(contents(files.name(1)) == "only")
  }

  @Test func aFailedMoveIsThrownWithTheFileName() throws {
    let root = try directory()
    defer { try? FileManager.default.removeItem(at: root) }
    let files = RotatedFileSet(path: root.appendingPathComponent("out.log").path, keep: 2)
    try "current".write(toFile: files.path, atomically: false, encoding: .utf8)
    // A directory with an entry cannot be replaced by rename(2) of a file: EISDIR or ENOTEMPTY.
    try FileManager.default.createDirectory(atPath: files.name(1) + "/inside", withIntermediateDirectories: true)
    do {
      try files.shift()
      Issue.record("shift over a non-empty directory succeeded")
    } catch {
      #expect(error.path == files.name(1) || error.path == files.name(0))
      #expect(contents(files.path) == "current")
    }
  }
}

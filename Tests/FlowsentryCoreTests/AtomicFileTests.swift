import Foundation
import Testing

@testable import FlowsentryCore

@Suite struct AtomicFileTests {
  let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-atomic-\(UUID())").path

  func contents(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
  func leftovers() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.contains(".tmp.") }
  }

  @Test func replacesAFileWholeAndLeavesNoTemporaryFile() throws {
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/a/b/state.json"
    try AtomicFile.write(Array("first".utf8), to: path, creatingDirectories: true)
    #expect(contents(path) == "first")
    try AtomicFile.write(Data("second, longer".utf8), to: path)
    #expect(contents(path) == "second, longer")
    try AtomicFile.write([UInt8](), to: path)
    #expect(contents(path) == "")
    let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    #expect(mode == 0o600)
    #expect(((try? FileManager.default.contentsOfDirectory(atPath: directory + "/a/b")) ?? []) == ["state.json"])
  }

  @Test func aFailedRenameKeepsWhatWasThereAndRemovesTheTemporaryFile() throws {
    defer { try? FileManager.default.removeItem(atPath: directory) }
    // The target is a directory that is not empty: the rename fails (root bypasses permissions,
    // not this).
    let target = directory + "/taken"
    try FileManager.default.createDirectory(atPath: target + "/inside", withIntermediateDirectories: true)
    #expect(throws: AtomicFile.Failure.self) { try AtomicFile.write(Array("x".utf8), to: target) }
    do {
      try AtomicFile.write(Array("x".utf8), to: target)
    } catch {
      #expect(error.operation == "rename")
      #expect(error.code == EISDIR || error.code == ENOTEMPTY, "\(error)")
    }
    #expect(FileManager.default.fileExists(atPath: target + "/inside"))
    #expect(leftovers().isEmpty)
  }

  @Test func aParentThatIsAFileIsAnErrorNamingTheCall() throws {
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try AtomicFile.write(Array("plain".utf8), to: directory + "/file", creatingDirectories: true)
    do {
      try AtomicFile.write(Array("x".utf8), to: directory + "/file/state.json", creatingDirectories: true)
      Issue.record("wrote below a regular file")
    } catch {
      #expect(error == AtomicFile.Failure(operation: "mkdir", path: directory + "/file", code: ENOTDIR))
    }
    do {
      try AtomicFile.write(Array("x".utf8), to: directory + "/file/state.json")
      Issue.record("wrote below a regular file")
    } catch {
      #expect(error.operation == "open" && error.code == ENOTDIR, "\(error)")
    }
    #expect(contents(directory + "/file") == "plain")
  }

  @Test func parentDirectories() {
    #expect(AtomicFile.parent(of: "/var/lib/flowsentry/x.json") == "/var/lib/flowsentry")
    #expect(AtomicFile.parent(of: "/x") == "/")
    #expect(AtomicFile.parent(of: "x") == ".")
    #expect(AtomicFile.parent(of: "a/b/") == "a")
  }
}

import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The flowsentry binary, run as a user runs it.
final class CommandLineRun {
  static var binary: String {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let candidates = [beside.appendingPathComponent("flowsentry").path, ".build/debug/flowsentry"]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[1]
  }

  private let process = Process()
  private let errorFile: URL

  init(_ arguments: [String]) throws {
    errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("fs-run-\(UUID().uuidString).err")
    _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
    process.executableURL = URL(fileURLWithPath: Self.binary)
    process.arguments = arguments
    process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
    process.standardError = try FileHandle(forWritingTo: errorFile)
    try process.run()
  }

  deinit {
    if process.isRunning { kill() }
    try? FileManager.default.removeItem(at: errorFile)
  }

  func kill() {
    Glibc.kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
  }

  func wait() { process.waitUntilExit() }
  var status: Int32 { process.terminationStatus }
  var errors: String { (try? String(contentsOf: errorFile, encoding: .utf8)) ?? "" }
}

/// Log lines an output wrote, for tests to read.
final class Log: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: [String] = []
  func append(_ line: String) { lock.withLock { stored.append(line) } }
  var lines: [String] { lock.withLock { stored } }
}

import Foundation

/// The repository's checkout, found from this file.
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent()

/// The repository's shipped rule directory, for tests that load `rules/` as it is on disk.
public let shippedRules = repositoryRoot.appendingPathComponent("rules").path

/// The `flowsentry` executable that tests run as a user runs it: `FLOWSENTRY_BIN`, else the one
/// built beside the test bundle, else the checkout's debug build. Tests reach it as a process, so
/// no test target depends on the executable target.
public let flowsentryBinary: String = {
  if let path = ProcessInfo.processInfo.environment["FLOWSENTRY_BIN"] { return path }
  let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  let candidates = [
    beside.appendingPathComponent("flowsentry").path,
    repositoryRoot.appendingPathComponent(".build/debug/flowsentry").path,
  ]
  return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
}()

import Foundation

/// The repository's shipped rule directory, for tests that load `rules/` as it is on disk.
public let shippedRules = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent().appendingPathComponent("rules").path

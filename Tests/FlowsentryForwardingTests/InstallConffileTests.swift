import FlowsentryTestSupport
import Foundation
import Testing

/// `make install` and the feed refresh's environment file, which the operator edits: theirs is
/// kept, and a shipped version that differs is put beside it and named, never lost without a word.
@Suite struct InstallConffileTests {
  static let script = repositoryRoot.appendingPathComponent("scripts/install-conffile.sh").path
  static let shipped = repositoryRoot.appendingPathComponent("deploy/intel-refresh.env").path

  func install(_ target: String) throws -> ChildProcess.Completed {
    let result = try ChildProcess.run(Self.script, ["0600", Self.shipped, target])
    #expect(result.status == 0, "\(result.stderr)")
    return result
  }

  func permissions(_ path: String) throws -> Int {
    try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
  }

  @Test func anEditedFileIsKeptAndTheShippedOneGoesBesideItNamed() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-conffile-\(UUID())").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let target = directory + "/etc/flowsentry/intel-refresh.env"
    let shippedText = try String(contentsOfFile: Self.shipped, encoding: .utf8)

    // First install: the shipped file, private (it may hold a feed's credentials in a URL).
    let first = try install(target)
    #expect(try String(contentsOfFile: target, encoding: .utf8) == shippedText)
    #expect(try permissions(target) == 0o600)
    #expect(first.stdout.isEmpty)

    // The same bytes again: nothing to say, nothing beside it.
    let unchanged = try install(target)
    #expect(unchanged.stdout.isEmpty)
    #expect(!FileManager.default.fileExists(atPath: target + ".new"))

    // The operator's own command: kept, and the shipped version beside it, said on stdout.
    let edited = "FLOWSENTRY_INTEL_FETCH=/usr/local/sbin/my-feeds\n"
    try edited.write(toFile: target, atomically: true, encoding: .utf8)
    let kept = try install(target)
    #expect(try String(contentsOfFile: target, encoding: .utf8) == edited)
    #expect(try String(contentsOfFile: target + ".new", encoding: .utf8) == shippedText)
    #expect(try permissions(target + ".new") == 0o600)
    #expect(kept.stdout.contains("kept \(target)"), "\(kept.stdout)")
    #expect(kept.stdout.contains("\(target).new"), "\(kept.stdout)")
  }

  /// The Makefile installs the file through the script (a recipe of its own would keep the file
  /// and drop the shipped one silently, as it once did).
  @Test(.requires(.executable("/usr/bin/make"))) func makeInstallInstallsTheConfigurationAndEnvironmentFilesThroughIt()
    throws
  {
    // -n prints the recipe without running it; -o release takes the release build as done.
    let dryRun = try ChildProcess.run(
      "/usr/bin/make", ["-C", repositoryRoot.path, "-n", "-o", "release", "install", "DESTDIR=/nonexistent"])
    #expect(dryRun.status == 0, "\(dryRun.stderr)")
    #expect(
      dryRun.stdout.contains(
        "scripts/install-conffile.sh 0600 deploy/intel-refresh.env /nonexistent/etc/flowsentry/intel-refresh.env"),
      "\(dryRun.stdout)")
    #expect(
      dryRun.stdout.contains(
        "scripts/install-conffile.sh 0644 deploy/config.yaml /nonexistent/etc/flowsentry/config.yaml"),
      "\(dryRun.stdout)")
  }
}

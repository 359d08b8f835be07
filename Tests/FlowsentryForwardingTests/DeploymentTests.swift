import FlowsentryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The files an operator deploys with: the systemd unit, the example configuration, the
/// Kubernetes manifest.
@Suite struct DeploymentTests {
  static let deploy = repositoryRoot.appendingPathComponent("deploy")

  /// Runs a command to its end; stdout and stderr together, as a person reads them.
  func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let result = try ChildProcess.run(executable, arguments)
    return (result.status, result.stdout + result.stderr)
  }

  @Test func theExampleConfigurationChecks() throws {
    let result = try run(
      CommandLineRun.binary, ["config", "check", Self.deploy.appendingPathComponent("config.yaml").path])
    #expect(result.status == 0, "\(result.output)")
  }

  /// systemd's own verifier on the unit, its ExecStart pointed at the binary just built.
  @Test(.requires(.executable("/usr/bin/systemd-analyze"))) func theSystemdUnitVerifies() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-unit-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let binary = URL(fileURLWithPath: CommandLineRun.binary).standardizedFileURL.path
    let unit = try String(contentsOf: Self.deploy.appendingPathComponent("flowsentry.service"), encoding: .utf8)
      .replacingOccurrences(of: "/usr/local/bin/flowsentry", with: binary)
    let path = directory.appendingPathComponent("flowsentry.service").path
    try unit.write(toFile: path, atomically: true, encoding: .utf8)
    let result = try run("/usr/bin/systemd-analyze", ["verify", path])
    #expect(result.status == 0, "\(result.output)")
    #expect(!result.output.contains("flowsentry.service:"), "\(result.output)")
  }

  /// The feed refresh as systemd runs it: the unit's ExecStart script with the example environment
  /// file's FLOWSENTRY_INTEL_FETCH, against a stand-in `curl` that fails for one feed. Every feed is
  /// tried; the one that failed keeps its last copy and is named, and the run fails.
  @Test func theIntelRefreshTriesEveryFeedAndNamesTheOnesThatFailed() throws {
    let refresh = try RefreshDirectory()
    defer { refresh.remove() }
    try "old\n".write(toFile: refresh.intel + "/feodo.ip.txt", atomically: true, encoding: .utf8)

    let environment = try String(contentsOf: Self.deploy.appendingPathComponent("intel-refresh.env"), encoding: .utf8)
    let fetch = try #require(
      environment.split(separator: "\n").first { $0.hasPrefix("FLOWSENTRY_INTEL_FETCH=") }?
        .dropFirst("FLOWSENTRY_INTEL_FETCH=".count))
    // What systemd's EnvironmentFile parse leaves as it is: no quotes, `$`, backslashes or outer blanks.
    #expect(!fetch.contains { "\\$\"'".contains($0) } && fetch.trimmingCharacters(in: .whitespaces) == fetch)
    let unit = try String(
      contentsOf: Self.deploy.appendingPathComponent("flowsentry-intel-refresh.service"), encoding: .utf8)
    let execStart = try #require(unit.split(separator: "\n").first { $0.hasPrefix("ExecStart=/bin/sh -ec '") })
    // systemd's own unescaping of the line: `$$` is a `$` for the shell.
    let script = String(execStart.dropFirst("ExecStart=/bin/sh -ec '".count).dropLast())
      .replacingOccurrences(of: "$$", with: "$")
    let result = try refresh.run(["FLOWSENTRY_INTEL_FETCH=\(fetch)", "/bin/sh", "-ec", script])
    #expect(result.status == 1, "\(result.output)")
    #expect(result.output.contains("not refreshed, their last copies stay: feodo.ip.txt\n"), "\(result.output)")
    #expect(try refresh.contents("urlhaus.domains.txt") == "fresh https://urlhaus.abuse.ch/downloads/hostfile/\n")
    #expect(try refresh.contents("feodo.ip.txt") == "old\n")
    #expect(try refresh.files() == ["feodo.ip.txt", "urlhaus.domains.txt"])
  }

  /// An empty download (a feed's server answering 200 with nothing) keeps the last copy; a URL the
  /// shell would split goes in a --from file; a bad argument stops the run before any fetch.
  @Test func theFetchKeepsTheLastCopyOfAnEmptyFeedAndChecksEveryArgumentFirst() throws {
    let refresh = try RefreshDirectory()
    defer { refresh.remove() }
    try "old\n".write(toFile: refresh.intel + "/empty.ip.txt", atomically: true, encoding: .utf8)
    try "old page\n".write(toFile: refresh.intel + "/page.domains.txt", atomically: true, encoding: .utf8)
    let feeds = refresh.directory + "/feeds"
    try """
    # name url
    empty.ip.txt https://feeds.invalid/empty\r
    page.domains.txt https://feeds.invalid/ratelimited
    api.ip.txt https://feeds.invalid/json-error
    bom.domains.txt https://feeds.invalid/bom-page
    query.domains.txt https://feeds.invalid/list?format=hosts&limit=10

    """.write(toFile: feeds, atomically: true, encoding: .utf8)
    let fromFile = try refresh.run(["flowsentry-intel-fetch", "--from", feeds])
    #expect(fromFile.status == 1, "\(fromFile.output)")
    #expect(fromFile.output.contains("empty.ip.txt: the download was empty"), "\(fromFile.output)")
    #expect(try refresh.contents("empty.ip.txt") == "old\n")
    // A page served with status 200 (a rate limit, an API's error) is no feed: the last copy stays.
    #expect(fromFile.output.contains("page.domains.txt: the download is a web page"), "\(fromFile.output)")
    #expect(fromFile.output.contains("api.ip.txt: the download is a web page"), "\(fromFile.output)")
    #expect(fromFile.output.contains("bom.domains.txt: the download is a web page"), "\(fromFile.output)")
    #expect(
      fromFile.output.contains(
        "not refreshed, their last copies stay: empty.ip.txt page.domains.txt api.ip.txt bom.domains.txt\n"))
    #expect(try refresh.contents("page.domains.txt") == "old page\n")
    #expect(try refresh.contents("query.domains.txt") == "fresh https://feeds.invalid/list?format=hosts&limit=10\n")
    #expect(try refresh.files() == ["empty.ip.txt", "page.domains.txt", "query.domains.txt"])

    for bad in ["../escape.txt=https://feeds.invalid/a", "-rf=https://feeds.invalid/a", "x.txt=--output=/etc/passwd"] {
      let result = try refresh.run(["flowsentry-intel-fetch", "first.txt=https://feeds.invalid/first", bad])
      #expect(result.status == 2, "\(bad): \(result.output)")
      #expect(!FileManager.default.fileExists(atPath: refresh.intel + "/first.txt"), "fetched before checking \(bad)")
    }
    #expect(try refresh.run(["flowsentry-intel-fetch"]).status == 2)
  }

  /// A scratch directory with a stand-in `curl` (which fails for feodotracker URLs, writes nothing for
  /// `/empty`, and writes `fresh URL` otherwise) first on PATH, then deploy/ for the fetch script.
  struct RefreshDirectory {
    let directory: String
    var intel: String { directory + "/intel" }

    init() throws {
      directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-refresh-\(UUID().uuidString)").path
      for made in [directory + "/bin", directory + "/intel"] {
        try FileManager.default.createDirectory(atPath: made, withIntermediateDirectories: true)
      }
      let curl = directory + "/bin/curl"
      try """
      #!/bin/sh
      out=""; url=""
      while [ $# -gt 0 ]; do
        case $1 in -o) out=$2; shift 2 ;; --max-time|--max-redirs|--proto-redir) shift 2 ;; -*) shift ;; *) url=$1; shift ;; esac
      done
      case $url in
        *feodotracker*) echo "curl: (22) The requested URL returned error: 503" >&2; exit 22 ;;
        */empty) : > "$out"; exit 0 ;;
        */ratelimited) printf '\\r\\n  <!DOCTYPE html>\\n<html><body>Rate limited</body></html>\\n' > "$out"; exit 0 ;;
        */json-error) printf '{"query_status": "unknown_auth_key"}\\n' > "$out"; exit 0 ;;
        */bom-page) printf '\\357\\273\\277<!DOCTYPE html><html>Server Error</html>\\n' > "$out"; exit 0 ;;
      esac
      printf 'fresh %s\\n' "$url" > "$out"
      """.write(toFile: curl, atomically: true, encoding: .utf8)
      guard chmod(curl, 0o755) == 0 else { throw POSIXError(.EPERM) }
    }

    /// `arguments` through env, in the intel directory, with the stand-in first on PATH.
    func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
      let path = "\(directory)/bin:\(DeploymentTests.deploy.path):/usr/bin:/bin"
      let result = try ChildProcess.run("/usr/bin/env", ["-C", intel, "PATH=\(path)"] + arguments)
      return (result.status, result.stdout + result.stderr)
    }

    func contents(_ name: String) throws -> String { try String(contentsOfFile: intel + "/" + name, encoding: .utf8) }
    func files() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: intel).sorted() }
    func remove() { try? FileManager.default.removeItem(atPath: directory) }
  }

  /// The manifest against Kubernetes' published schemas (kubernetes-validate from PyPI, offline).
  @Test(.requires(.pythonModule("kubernetes_validate"))) func theKubernetesManifestValidates() throws {
    let manifest = Self.deploy.appendingPathComponent("kubernetes/daemonset.yaml").path
    let result = try run(
      "python3", ["-m", "kubernetes_validate", "--strict", "--kubernetes-version", "1.30.0", manifest])
    #expect(result.status == 0, "\(result.output)")
    // The ConfigMap's configuration is one flowsentry accepts.
    let text = try String(contentsOfFile: manifest, encoding: .utf8)
    let start = try #require(text.range(of: "  config.yaml: |\n"))
    let body = text[start.upperBound...].split(separator: "\n", omittingEmptySubsequences: false)
      .prefix { $0.hasPrefix("    ") || $0.isEmpty }.map { $0.dropFirst(4) }.joined(separator: "\n")
    let configuration = FileManager.default.temporaryDirectory.appendingPathComponent(
      "fs-k8s-\(UUID().uuidString).yaml")
    try body.write(to: configuration, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: configuration) }
    let check = try run(CommandLineRun.binary, ["config", "check", configuration.path])
    #expect(check.status == 0, "\(check.output)")
  }
}

import FlowsentryTestSupport
import Foundation
import Testing

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

import FlowsentryCapture
import Foundation
import Testing

/// Privileged tests run as root on a machine with cgroup v2. Elsewhere they are skipped, with this
/// reason, unless FLOWSENTRY_REQUIRE_BPF=1 (as in CI), where running without them is a failure.
enum BPFTestEnvironment {
  static let required = ProcessInfo.processInfo.environment["FLOWSENTRY_REQUIRE_BPF"] == "1"
  static let privileged = geteuid() == 0
  static let cgroup2Mount = CgroupDirectory.cgroup2Mount()
  static let available = privileged && cgroup2Mount != nil

  /// Enables the test when it can run, or when it must (then `requireAvailable()` fails it).
  static let enabled = available || required

  static let skipReason: Comment =
    "needs root and a cgroup v2 mount (run `sudo make test`); FLOWSENTRY_REQUIRE_BPF=1 turns this skip into a failure"

  static func requireAvailable() throws {
    try #require(privileged, "FLOWSENTRY_REQUIRE_BPF=1 but not running as root")
    try #require(cgroup2Mount != nil, "FLOWSENTRY_REQUIRE_BPF=1 but no cgroup v2 is mounted")
  }
}

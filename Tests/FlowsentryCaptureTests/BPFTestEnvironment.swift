import FlowsentryCapture
import FlowsentryTestSupport
import Testing

extension Requirement {
  static let cgroup2 = Requirement("a cgroup v2 mount", remedy: "mount cgroup2 (systemd does)") {
    CgroupDirectory.cgroup2Mount() != nil
  }
  static let bpftool = executable("/usr/sbin/bpftool")
  static let dnsmasq = executable("/usr/sbin/dnsmasq")
  static let dig = executable("/usr/bin/dig")
  static let ip = executable("/usr/sbin/ip")
  static let python3 = executable("/usr/bin/python3")
  static let setpriv = executable("/usr/bin/setpriv")
  static let tcpdump = executable("/usr/bin/tcpdump")
  static let curl = executable("/usr/bin/curl")
}

/// The live tests' gate, kept for the suites that still use it: `.requires(.root, .cgroup2)` on a
/// suite says the same in one place.
enum BPFTestEnvironment {
  static let enabled = TestEnvironment.mustRunEverything || (Requirement.root.isMet && Requirement.cgroup2.isMet)

  static let skipReason: Comment = "needs root and a cgroup v2 mount (run `sudo make test`)"

  static func requireAvailable(sourceLocation: SourceLocation = #_sourceLocation) throws {
    try TestEnvironment.require(.root, .cgroup2, sourceLocation: sourceLocation)
  }
}

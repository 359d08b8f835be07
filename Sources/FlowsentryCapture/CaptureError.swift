import SystemPackage

/// Why capture could not start, worded for the operator who has to fix it.
public enum CaptureError: Error, CustomStringConvertible, Sendable {
  case notPrivileged
  /// Capabilities the process lacks, by name (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN).
  case missingCapabilities([String])
  /// The kernel publishes no BTF (/sys/kernel/btf/vmlinux): the programs' CO-RE reads need it.
  case kernelBTFMissing
  case cgroupV2NotMounted
  case notACgroupV2Directory(path: String)
  case cannotOpenCgroup(path: String, Errno)
  case loadFailed(Errno, kernelLog: [String])
  case attachFailed(path: String, Errno, kernelLog: [String])
  case ringBufferFailed(Errno)
  case tooManyDNSPorts(maximum: Int)
  case recordVersionMismatch(object: UInt32, expected: UInt32)
  case testRunFailed(Errno)

  public var description: String {
    switch self {
    case .notPrivileged:
      return "flowsentry needs root (or CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON) to load eBPF programs; run it with sudo"
    case .missingCapabilities(let names):
      return "flowsentry lacks \(names.joined(separator: ", ")) (it needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, "
        + "or root with them; CAP_SYS_ADMIN stands in for the first two); grant them, e.g. "
        + "AmbientCapabilities= in its systemd unit or capabilities.add in its pod"
    case .kernelBTFMissing:
      return "the kernel publishes no BTF (/sys/kernel/btf/vmlinux is missing): flowsentry needs a kernel "
        + "built with CONFIG_DEBUG_INFO_BTF=y, 5.15 or later"
    case .cgroupV2NotMounted:
      return "no cgroup v2 hierarchy is mounted (none in /proc/mounts); mount one, e.g. "
        + "`mount -t cgroup2 none /sys/fs/cgroup/unified`, or boot with systemd.unified_cgroup_hierarchy=1"
    case .notACgroupV2Directory(let path):
      return "\(path) is not a directory of a cgroup v2 hierarchy"
    case .cannotOpenCgroup(let path, let errno):
      return "cannot open cgroup \(path): \(errno)"
    case .loadFailed(let errno, let log):
      return "the kernel rejected the eBPF programs (\(errno))" + Self.render(log)
    case .attachFailed(let path, let errno, let log):
      return "cannot attach to cgroup \(path) (\(errno))" + Self.render(log)
    case .ringBufferFailed(let errno):
      return "cannot open the eBPF ring buffer (\(errno))"
    case .tooManyDNSPorts(let maximum):
      return "at most \(maximum) DNS ports can be watched"
    case .recordVersionMismatch(let object, let expected):
      return "the embedded eBPF object writes records of version \(object), this build reads version \(expected); "
        + "rebuild with `make build`"
    case .testRunFailed(let errno):
      return "BPF_PROG_TEST_RUN failed (\(errno))"
    }
  }

  private static func render(_ log: [String]) -> String {
    guard !log.isEmpty else { return "" }
    return "; libbpf and the verifier said:\n" + log.map { "  " + $0 }.joined(separator: "\n")
  }
}

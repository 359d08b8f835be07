import Foundation

/// Namespaces and host links named as runs name their test hosts (`fs-test-TAG`, `fshTAG`), made for
/// the leftover clean-up to judge; `remove()` takes away whatever the clean-up left.
struct FakeTestHosts {
  let tags: [String]

  /// Makes a namespace and a veth pair for each tag; call `remove()` in a `defer` first, so that a
  /// failure half way leaves nothing.
  func make() throws {
    for tag in tags {
      try run("/usr/sbin/ip", ["netns", "add", "fs-test-\(tag)"])
      try run("/usr/sbin/ip", ["link", "add", "fsh\(tag)", "type", "veth", "peer", "name", "fsp\(tag)"])
    }
  }

  /// A half-removed host: its link stays, its namespace's name goes.
  func dropNamespace(of tag: String) throws {
    try run("/usr/sbin/ip", ["netns", "del", "fs-test-\(tag)"])
  }

  func remove() {
    for tag in tags {
      _ = try? run("/usr/sbin/ip", ["link", "del", "fsh\(tag)"])
      _ = try? run("/usr/sbin/ip", ["netns", "del", "fs-test-\(tag)"])
    }
  }

  /// The namespaces and links there are now.
  static func present() -> (namespaces: Set<String>, links: Set<String>) {
    (
      Set((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []),
      Set((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? [])
    )
  }
}

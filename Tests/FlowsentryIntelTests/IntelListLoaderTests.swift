import FlowsentryCore
import Testing

@testable import FlowsentryIntel

@Suite struct IntelListLoaderTests {
  @Test func globsAreExpandedRelativeToTheBaseDirectoryInOrder() throws {
    let directory = try FeedDirectory()
    _ = try directory.write("b.intel", "#fields\tindicator\tindicator_type\n203.0.113.5\tIntel::ADDR\n")
    _ = try directory.write("a.intel", "#fields\tindicator\tindicator_type\n203.0.113.5\tIntel::ADDR\n")
    _ = try directory.write("c.txt", "not read\n")
    let load = try IntelListLoader.load(
      IntelListSpecification(name: "c2", type: .address, files: ["*.intel", "none-*.intel"], format: .zeekIntel),
      baseDirectory: directory.url.path)
    #expect(load.unmatchedPatterns == ["none-*.intel"])
    #expect(load.list.count == 1)
    #expect(load.list.statistics.duplicates == 1)
    #expect(load.list.statistics.files == 2)
    #expect(load.list.match(address: IPAddress("203.0.113.5")!)?.source == directory.url.path + "/a.intel:2")
  }

  @Test func aFileTwoPatternsNameIsReadOnce() throws {
    let directory = try FeedDirectory()
    _ = try directory.write("feodo.ip.txt", "203.0.113.5\n203.0.113.6\n")
    _ = try directory.write("other.txt", "203.0.113.7\n")
    let load = try IntelListLoader.load(
      IntelListSpecification(
        name: "c2", type: .address, files: ["*.txt", "*.ip.txt", "./feodo.ip.txt", directory.url.path + "/other.txt"]),
      baseDirectory: directory.url.path)
    #expect(load.list.count == 3)
    #expect(load.list.statistics.duplicates == 0)
    #expect(load.list.statistics.files == 2)
  }

  @Test func aPlainPathThatCannotBeReadIsAnError() throws {
    let directory = try FeedDirectory()
    #expect(
      throws: IntelListLoadFailure(
        pattern: "missing.txt",
        error: .unreadable(path: directory.url.path + "/missing.txt", reason: "No such file or directory"))
    ) {
      try IntelListLoader.load(
        IntelListSpecification(name: "x", type: .domain, files: ["missing.txt"]), baseDirectory: directory.url.path)
    }
  }
}

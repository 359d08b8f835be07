import FlowsentryCore
import FlowsentryOutput
import FlowsentryPackets
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryTestSupport
import Foundation
import Testing

extension ReplayTests {
  /// Captures given newest first run time backwards through the rules as recordings do: counted,
  /// with the first packet and by how much; a step back of a second within a file (interfaces or
  /// CPUs interleaving) is not.
  @Test func timeRunningBackwardsAcrossCapturesIsCounted() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-capture-order-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let hour: Int64 = 3_600_000_000_000
    let start: Int64 = 1_700_000_000_000_000_000
    func write(_ name: String, at times: [Int64]) throws -> String {
      var pcap = PcapWriter(linkType: 1)
      for (index, time) in times.enumerated() {
        let syn = Frames.tcp(UInt16(40_000 + index), 443, flags: [.syn], sequence: 100)
        pcap.add(Frames.ethernet(Frames.ipv4(client, web, protocolNumber: 6, syn)), at: time)
      }
      let path = directory.appendingPathComponent(name).path
      try pcap.write(to: path)
      return path
    }
    let tuesday = try write("tuesday.pcap", at: [start + hour, start + hour + 2_000_000_000])
    // A second back within the file, then the file itself an hour before the one given first.
    let monday = try write("monday.pcap", at: [start + 1_000_000_000, start, start + 2_000_000_000])

    let inOrder = Replayer(pipeline: Pipeline())
    for path in [monday, tuesday] { inOrder.replay(path: path, to: InMemoryEventSink()) }
    #expect(inOrder.summary.backwardsPackets == 0 && inOrder.summary.firstBackwards == nil)

    let newestFirst = Replayer(pipeline: Pipeline())
    for path in [tuesday, monday] { newestFirst.replay(path: path, to: InMemoryEventSink()) }
    #expect(newestFirst.summary.backwardsPackets == 3)
    #expect(newestFirst.summary.firstBackwards?.place == "\(monday): packet 1")
    #expect(newestFirst.summary.firstBackwards?.nanoseconds == hour + 1_000_000_000)
  }
}

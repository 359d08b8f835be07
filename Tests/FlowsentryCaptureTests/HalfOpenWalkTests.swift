import FlowsentryCore
import Foundation
import Synchronization
import Testing

@testable import FlowsentryCapture

/// The walk of the kernel's half-open map, with more remotes than one walk may visit: each remote's
/// attempts are reported once in total, however the walks are cut and whatever they delete.
@Suite(.serialized, .enabled(if: BPFTestEnvironment.enabled, BPFTestEnvironment.skipReason), .testHostsInTurn)
struct HalfOpenWalkTests {
  /// One SYN each, in four waves a second apart: they settle and are deleted while the flooding
  /// remotes are still in the map, so walks delete entries between ones they must keep.
  static let singleSources = (10..<130).map { "198.51.100.\($0)" }
  /// A SYN each every 0.3 s for 7 s: unsettled, reported as they go (no in-flight allowance).
  static let floodSources = (200..<208).map { "198.51.100.\($0)" }
  static let floodRounds = 24
  static let visitLimit = 16

  @Test func moreRemotesThanOneWalkVisitsAreEachReportedOnce() async throws {
    try BPFTestEnvironment.requireAvailable()
    let host = try TestHost()
    defer { host.remove() }
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let session = try CaptureSession(cgroupPath: cgroup.path)
    session.tuneHalfOpenScan(visitLimit: Self.visitLimit, inFlightAllowance: 0)
    let stream = try session.packets()
    let reported = Mutex<[String: UInt64]>([:])
    let consumer = Task.detached {
      for await batch in stream {
        for case .halfOpen(let attempt) in batch {
          reported.withLock { $0[attempt.remote.address.description, default: 0] += attempt.attempts }
        }
      }
    }

    let listener = try cgroup.withMembership { try TestSocket(.v4) }
    try listener.bind(TestHost.localAddress)
    try listener.listen()
    let server = listener.localEndpoint
    let singles = Self.singleSources.map { "\"\($0)\"" }.joined(separator: ",")
    let floods = Self.floodSources.map { "\"\($0)\"" }.joined(separator: ",")
    let attacker = try host.runScapy(
      """
      from scapy.all import IP, TCP, send, conf
      import time
      conf.verb = 0
      server, port = "\(server.address)", \(server.port)
      singles = [\(singles)]
      for round in range(\(Self.floodRounds)):
          if round % 4 == 0 and round < 16:
              wave = singles[round // 4 * 30:(round // 4 + 1) * 30]
              send([IP(src=a, dst=server)/TCP(sport=21000 + i, dport=port, flags="S", seq=7) for i, a in enumerate(wave)])
          send([IP(src=a, dst=server)/TCP(sport=30000 + round * 16 + i, dport=port, flags="S", seq=9) for i, a in enumerate([\(floods)])])
          time.sleep(0.3)
      print("sent", flush=True)
      """)
    #expect(try attacker.finish().contains("sent"))

    var expected: [String: UInt64] = [:]
    for source in Self.singleSources { expected[source] = 1 }
    for source in Self.floodSources { expected[source] = UInt64(Self.floodRounds) }
    let deadline = ContinuousClock.now + .seconds(40)
    while reported.withLock({ $0 }) != expected && ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(200))
    }
    // Two more walks, for any remote reported again to show up.
    try await Task.sleep(for: .seconds(2))
    let statistics = session.statistics
    session.stop()
    await consumer.value

    let seen = reported.withLock { $0 }
    for (source, attempts) in expected.sorted(by: { $0.key < $1.key }) {
      #expect(seen[source] == attempts, "half-open attempts from \(source)")
    }
    #expect(Set(seen.keys) == Set(expected.keys))
    #expect(statistics.halfOpenAttempts == expected.values.reduce(0, +))
    #expect(statistics.failedHalfOpenScans == 0)
  }
}

import FlowsentryCapture
import FlowsentryCore
import Foundation
import Synchronization
import Testing

/// The session's life at its edges: a consumer that goes away, and readers of its counters while
/// it stops.
@Suite(.serialized, .enabled(if: BPFTestEnvironment.enabled, BPFTestEnvironment.skipReason))
struct CaptureLifecycleTests {
  /// Opens and closes `count` loopback connections inside the cgroup: four records each.
  func connections(_ count: Int, in cgroup: TestCgroup) throws {
    let listener = try cgroup.withMembership { try TestSocket(.v4) }
    try listener.bind(TestSocket.Family.v4.loopback)
    try listener.listen()
    for _ in 0..<count {
      let client = try cgroup.withMembership { try TestSocket(.v4) }
      #expect(try client.connect(to: listener.localEndpoint) == 0)
      let accepted = try listener.accept()
      client.close()
      accepted.readToEnd()
      accepted.close()
    }
    listener.close()
  }

  @Test func recordsAfterTheConsumerEndedAreCountedAndTheReaderStops() async throws {
    try BPFTestEnvironment.requireAvailable()
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let session = try CaptureSession(cgroupPath: cgroup.path)
    let stream = try session.packets()
    let taken = Atomic<Int>(0)
    let consumer = Task.detached {
      for await batch in stream { taken.add(batch.count, ordering: .relaxed) }
    }
    try connections(2, in: cgroup)
    let deadline = ContinuousClock.now + .seconds(5)
    while taken.load(ordering: .relaxed) < 8 && ContinuousClock.now < deadline {
      try await Task.sleep(for: .milliseconds(20))
    }
    #expect(taken.load(ordering: .relaxed) == 8, "the records of two connections, before the consumer ends")

    // The consumer goes away; what is captured after it has no one to take it.
    consumer.cancel()
    await consumer.value
    try connections(3, in: cgroup)
    try await Task.sleep(for: .milliseconds(200))
    session.stop()
    let statistics = session.statistics
    #expect(statistics.recordsAfterConsumerEnd == 12, "\(statistics)")
    #expect(statistics.records == UInt64(taken.load(ordering: .relaxed)) + statistics.recordsAfterConsumerEnd)
    #expect(statistics.queueDrops == 0)
    let sample = statistics.samples.first { $0.name == "flowsentry_records_after_consumer_end_total" }
    #expect(sample != nil)
  }

  @Test func countersReadWhileTheSessionStopsNeverTouchAFreedProbe() async throws {
    try BPFTestEnvironment.requireAvailable()
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    for _ in 0..<5 {
      let session = try CaptureSession(cgroupPath: cgroup.path)
      let stream = try session.packets()
      let consumer = Task.detached { for await _ in stream {} }
      try connections(1, in: cgroup)
      // As the /metrics thread does: counters and program ids, as fast as it can, while stop() runs.
      let reading = Atomic<Bool>(true)
      let reads = Atomic<Int>(0)
      let reader = Thread {
        while reading.load(ordering: .acquiring) {
          let statistics = session.statistics
          _ = session.programIDs
          precondition(statistics.kernel.incomingSYNs <= 1_000_000)
          reads.add(1, ordering: .relaxed)
        }
      }
      reader.start()
      while reads.load(ordering: .relaxed) < 10 { try await Task.sleep(for: .milliseconds(1)) }
      let before = session.statistics.kernel
      session.stop()
      let after = session.statistics.kernel
      try await Task.sleep(for: .milliseconds(20))
      reading.store(false, ordering: .releasing)
      await consumer.value
      // The last counters read before the unload stay in the statistics, never fall back to zero.
      #expect(after.incomingSYNs >= before.incomingSYNs && after.incomingSYNs >= 1, "\(before) → \(after)")
      #expect(session.programIDs.isEmpty)
    }
  }
}

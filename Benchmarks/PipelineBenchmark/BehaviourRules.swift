import FlowsentryCore
import FlowsentryRules
import Foundation

// The behaviour rule kinds alone (sum threshold, beaconing, first seen), each over one million end
// events carrying volumes, to `remotes` remote addresses: 1,000 fit the engine's 10,000 groups a
// rule, 100,000 make it evict (the case of a busy host).
/// This thread's CPU time: the figure that holds while other processes share the cores.
func threadCPUNanoseconds() -> Int64 {
  var now = timespec()
  guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) == 0 else { return nanoseconds() }
  return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

/// `kinds`: comma-separated labels to run (all when nil), also read from FLOWSENTRY_BENCH_KINDS;
/// `remotes`: one remote count (both when nil), also read from FLOWSENTRY_BENCH_REMOTES.
@MainActor func behaviourRuleBenchmarks(
  events count: Int = 1_000_000, kinds selected: String? = nil, remotes: Int? = nil
) {
  let kinds: [(String, String)] = [
    // The count threshold, for comparison: what group churn costs any threshold.
    ("count", "threshold: {count: 100000, window: 1h, group_by: [remote]}"),
    ("sum", "threshold: {sum: bytes_sent, at_least: 1 TiB, window: 1h, group_by: [remote]}"),
    ("max", "threshold: {max: rtt_us, at_least: 10000000, window: 1h, group_by: [remote]}"),
    ("beaconing", "beacon: {group_by: [process.comm, remote], min_connections: 10}"),
    ("first seen", "first_seen: {field: remote_port, group_by: [process.comm], learning: 1s, max_values: 1000}"),
  ]
  let environment = ProcessInfo.processInfo.environment
  let only = (selected ?? environment["FLOWSENTRY_BENCH_KINDS"]).map {
    Set($0.split(separator: ",").map(String.init))
  }
  let remoteCounts = (remotes ?? environment["FLOWSENTRY_BENCH_REMOTES"].flatMap { Int($0) }).map { [$0] }
  for remotes in remoteCounts ?? [1_000, 100_000] {
    var sensorEvents: [SensorEvent] = []
    sensorEvents.reserveCapacity(count)
    let local = Endpoint(IPAddress("198.51.100.2")!, 40_000)
    let commands = (0..<16).map { "worker\($0)" }
    // One event a millisecond on average, at random. Each group (a command and a remote) comes
    // back every 2,000 events, so its intervals are sums of ~2,000 random steps: regular within
    // about 1%. Every beaconing group is scored at each connection from its tenth on, alerts once
    // and is folded after (suppressed for an hour); with 100,000 remotes groups are evicted first.
    var generator = SeededRandom(seed: UInt64(remotes))
    var clock: Int64 = 0
    let times = (0..<count).map { _ in
      clock += Int64.random(in: 0...2_000_000, using: &generator)
      return clock
    }
    for index in 0..<count {
      let remote = Endpoint(.v4(0xCB00_7100 &+ UInt32(index % remotes)), UInt16(1 + index % 2_000))
      let volume = FlowVolume(
        bytesSent: UInt64(500 + index % 7_000), bytesReceived: UInt64(1_000 + index % 13_000), packetsSent: 6,
        packetsReceived: 8, retransmits: 0, rttMicroseconds: UInt64(100 + index % 900))
      sensorEvents.append(
        .flow(
          FlowEvent(
            name: .netFlowTCPEnd, timestamp: times[index], direction: .outgoing, source: local,
            destination: remote, closeReason: .fin, terminatedBy: .local, durationNanoseconds: 5_000_000,
            process: ProcessIdentity(pid: 100, uid: 0, command: commands[index % 16]), volume: volume)))
    }
    for (label, clause) in kinds where only?.contains(label) ?? true {
      let text = """
        - rule:
            id: BENCH-1
            name: \(label)
            events: [net_flow_tcp_end]
            condition: conn_direction == outgoing
            \(clause)
        """
      do {
        let engine = RuleEngine(rules: try RuleLoader.load(text: text, file: "bench.yaml"))
        var alerts: [Alert] = []
        let start = nanoseconds()
        let cpuStart = threadCPUNanoseconds()
        // Borrowed in place: a `for in` loop would copy each event (300 bytes and its references)
        // out of the array, a cost of this loop, not of the engine.
        sensorEvents.withUnsafeBufferPointer { events in
          for index in events.indices { engine.process(events[index], at: events[index].timestamp, into: &alerts) }
        }
        let cpuSeconds = Double(threadCPUNanoseconds() - cpuStart) / 1e9
        let seconds = Double(nanoseconds() - start) / 1e9
        // Per CPU-second too: on a shared machine wall time counts other processes' turns.
        print(
          "rules, \(label) (\(remotes) remotes): \(rate(sensorEvents.count, seconds)) events/s, "
            + "\(rate(sensorEvents.count, cpuSeconds)) events/CPU-s "
            + "(\(engine.counters.alerts) alerts, \(engine.counters.suppressed) folded, "
            + "\(engine.counters.groupEvictions) group evictions)")
      } catch {
        print("behaviour benchmark \(label): \(error)")
      }
    }
  }
}

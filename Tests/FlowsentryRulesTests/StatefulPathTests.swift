import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// The stateful rules' per-event shortcuts keep what the plain path keeps.
@Suite struct StatefulPathTests {
  /// A beacon history that skips sampling while the period cannot reach its minimum holds, at every
  /// connection that could score, the same events as one that samples every connection.
  @Test(arguments: [UInt64(1), 2, 3, 4, 5])
  func beaconSampleSkipsOnlyEventsNoAlertCanHold(seed: UInt64) {
    let rule = BeaconRule(groupBy: ["remote"])
    let skipping = BeaconHistory()
    let sampling = BeaconHistory()
    var generator = SeededRandom(seed: seed)
    var time: Int64 = 0
    var shaped = 0
    let local = Endpoint(IPAddress("198.51.100.2")!, 40_000)
    let remote = Endpoint(IPAddress("203.0.113.9")!, 443)
    for index in 0..<3_000 {
      // Runs of bursts (milliseconds apart) and of calls seconds apart, of random lengths, so that
      // the median crosses the minimum period both ways.
      let phase = (index / (5 + Int(generator.next() % 40))) % 2
      time +=
        phase == 0 ? Int64(generator.next() % 50_000_000) : 1_000_000_000 + Int64(generator.next() % 9_000_000_000)
      let event = SensorEvent.flow(
        FlowEvent(name: .netFlowTCPEnd, timestamp: time, direction: .outgoing, source: local, destination: remote))
      skipping.record(
        at: time, bytes: 100, event: event, minimumConnections: rule.minimumConnections,
        minimumPeriodNanoseconds: rule.minimumPeriodNanoseconds)
      sampling.record(at: time, bytes: 100, event: event, minimumConnections: rule.minimumConnections)
      #expect((skipping.intervalShape(for: rule) == nil) == (sampling.intervalShape(for: rule) == nil))
      if sampling.intervalShape(for: rule) != nil {
        shaped += 1
        #expect(skipping.events == sampling.events, "connection \(index)")
      }
    }
    // The sequence reached a scorable period often enough for the comparison to mean something.
    #expect(shaped > 100)
  }

  /// Equal group keys hash equal, texts by canonical equivalence as String's `==` compares them
  /// (a Kelvin sign is a K), and keys of distinct remotes spread over a table's positions.
  @Test func groupKeysHashAsTheyCompare() {
    typealias Key = RuleEngine.GroupKey
    let kelvin = Key([.string("\u{212A}worker"), .address(IPAddress("203.0.113.9")!)])
    let ascii = Key([.string("Kworker"), .address(IPAddress("203.0.113.9")!)])
    #expect(kelvin == ascii)
    #expect(kelvin.tableHash == ascii.tableHash)
    let long = Key([.integer(1), .address(IPAddress("2001:db8::1")!), .strings(["a", "b"]), .missing])
    #expect(
      long.tableHash
        == Key([.integer(1), .address(IPAddress("2001:db8::1")!), .strings(["a", "b"]), .missing]).tableHash)
    #expect(Key([.integer(7)]).tableHash != Key([.address(.v4(7))]).tableHash)
    // 4,096 consecutive IPv4 remotes over a table of 8,192 positions: few share one.
    var positions = Set<Int>()
    for index in 0..<4_096 {
      positions.insert(Key([.address(.v4(0xCB00_7100 + UInt32(index)))]).tableHash & 8_191)
    }
    #expect(positions.count > 3_000)
  }
}

import FlowsentryCore
import Testing

@testable import FlowsentryFlows

/// Flows chosen by an attacker, or times a capture file chooses, cost what ordinary ones cost and
/// never trap.
@Suite struct HostileFlowInputTests {
  let local = Endpoint(IPAddress("2001:db8::1")!, 443)

  /// The fold FlowKey used before its words went through the seeded hasher, kept here to craft
  /// keys against it: every word but the remote's low 64 bits and its port is fixed, and those two
  /// are solved so that each key folds to the same word.
  static func oldFold(_ key: FlowTracker.FlowKey) -> UInt64 {
    var folded = key.localAddress.0 ^ key.remoteAddress.0 &* 0x9E37_79B9_7F4A_7C15
    folded = (folded ^ key.localAddress.1) &* 0xBF58_476D_1CE4_E5B9
    folded = (folded ^ key.remoteAddress.1) &* 0x94D0_49BB_1331_11EB
    folded = (folded ^ key.ports) &* 0x9E37_79B9_7F4A_7C15
    return folded ^ key.cgroupID
  }

  /// The multiplicative inverse of an odd number modulo 2^64 (Newton's iteration).
  static func inverse(_ odd: UInt64) -> UInt64 {
    var inverse = odd
    for _ in 0..<6 { inverse = inverse &* (2 &- odd &* inverse) }
    return inverse
  }

  /// Keys from one /64 whose old fold is one word: the remote port varies, the remote's low word
  /// is chosen to cancel it.
  func craftedKeys(_ count: Int) -> [FlowTracker.FlowKey] {
    let prefix: UInt64 = 0x2001_0db8_0000_0042
    let target: UInt64 = 0x1234_5678_9abc_def0
    let inverse = Self.inverse(0x94D0_49BB_1331_11EB)
    return (0..<count).map { index in
      let port = UInt16(1024 + index)
      var key = FlowTracker.FlowKey(local: local, remote: Endpoint(.v6(high: prefix, low: 0), port), cgroupID: 0)
      let beforeRemoteLow =
        (key.localAddress.0 ^ key.remoteAddress.0 &* 0x9E37_79B9_7F4A_7C15 ^ key.localAddress.1)
        &* 0xBF58_476D_1CE4_E5B9
      key.remoteAddress.1 = ((target ^ key.ports) &* inverse) ^ beforeRemoteLow
      return key
    }
  }

  func randomKeys(_ count: Int) -> [FlowTracker.FlowKey] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in
      FlowTracker.FlowKey(
        local: local,
        remote: Endpoint(.v6(high: 0x2001_0db8_0000_0042, low: generator.next()), UInt16.random(in: 1024...65_535)),
        cgroupID: 0)
    }
  }

  /// How many keys share a bucket with an earlier one, in a table of `buckets` (a power of two)
  /// indexed by the hash's low bits, as Swift's own Dictionary indexes.
  func collisions(_ keys: [FlowTracker.FlowKey], buckets: Int) -> Int {
    var used = Set<Int>()
    for key in keys { used.insert(key.hashValue & (buckets - 1)) }
    return keys.count - used.count
  }

  @Test func keysCraftedAgainstTheOldFoldSpreadLikeRandomOnes() {
    let crafted = craftedKeys(60_000)
    // The crafted keys really do defeat the old fold: one word for all of them.
    #expect(Set(crafted.map(Self.oldFold)).count == 1)
    #expect(Set(crafted).count == crafted.count, "the keys are distinct flows")

    let buckets = 1 << 17
    let craftedCollisions = collisions(crafted, buckets: buckets)
    let randomCollisions = collisions(randomKeys(60_000), buckets: buckets)
    // About 12,000 of 60,000 collide by chance in 131,072 buckets; the old fold made 59,999.
    #expect(craftedCollisions < 3 * randomCollisions, "crafted \(craftedCollisions), random \(randomCollisions)")
    #expect(Set(crafted.map(\.hashValue)).count > crafted.count - 10)
  }

  func segment(
    _ flags: TCPFlags, sent: Bool, sequence: UInt32, ack: UInt32 = 0, at nanoseconds: Int64,
    remote: Endpoint = Endpoint(IPAddress("203.0.113.7")!, 443)
  ) -> TCPPacketObservation {
    let local = Endpoint(IPAddress("10.0.0.2")!, 40_000)
    return TCPPacketObservation(
      timestamp: nanoseconds, hook: sent ? .egress : .ingress, source: sent ? local : remote,
      destination: sent ? remote : local, flags: flags, sequence: sequence, acknowledgment: ack)
  }

  func run(_ packets: [TCPPacketObservation], validating: Bool = true) -> [FlowEvent] {
    var configuration = FlowTracker.Configuration()
    configuration.validatesSegments = validating
    var tracker = FlowTracker(configuration: configuration)
    var events: [FlowEvent] = []
    for packet in packets { tracker.observe(packet, into: &events) }
    return events
  }

  @Test(arguments: [(Int64(-9_000_000_000_000_000_000), Int64(9_000_000_000_000_000_000)), (.max, .min)])
  func durationsSaturateWhenTimesAreFarApart(began: Int64, ended: Int64) throws {
    let events = run([
      segment(.syn, sent: true, sequence: 100, at: began),
      segment([.syn, .ack], sent: false, sequence: 500, ack: 101, at: began),
      segment([.fin, .ack], sent: true, sequence: 101, ack: 501, at: ended),
      segment([.rst], sent: true, sequence: 102, at: ended),
    ])
    try #require(events.map(\.name) == [.netFlowTCPBegin, .netFlowTCPEnd])
    #expect(events[1].durationNanoseconds == (ended > began ? Int64.max : Int64.min))
  }

  @Test func endedFlowMemoryExpiresAcrossFarApartTimes() {
    // Ended-flow expiry compares times too: one flow ends at Int64.min, the next packet is at Int64.max.
    let other = Endpoint(IPAddress("203.0.113.8")!, 443)
    let events = run(
      [
        segment([.rst, .ack], sent: false, sequence: 0, ack: 1, at: .min),
        segment([.rst, .ack], sent: false, sequence: 0, ack: 1, at: .max, remote: other),
      ], validating: false)
    #expect(events.count == 2)
  }

  @Test(arguments: [UInt32(0), 1, 0x7fff_ffff, 0xdead_beef])
  func aRefusalIsRefusedWhateverTheRSTsSequence(rstSequence: UInt32) throws {
    // Our SYN answered by an RST/ACK that acknowledges it, and no SYN+ACK: as live capture reports
    // it (FlowTrackerTests.outgoingAttemptRefusedBySocketState), one refused end without a begin.
    let events = run([
      segment(.syn, sent: true, sequence: 4_000_000_000, at: 1_000),
      segment([.rst, .ack], sent: false, sequence: rstSequence, ack: 4_000_000_001, at: 2_000),
    ])
    try #require(events.count == 1)
    #expect(events[0].name == .netFlowTCPEnd && events[0].closeReason == .refused)
    #expect(events[0].direction == .outgoing && events[0].terminatedBy == .remote)
    #expect(events[0].durationNanoseconds == nil)
  }

  @Test func anIncomingAttemptWeRefuseIsRefusedWhateverOurSequence() throws {
    let events = run([
      segment(.syn, sent: false, sequence: 77, at: 1_000),
      segment([.rst, .ack], sent: true, sequence: 123_456, ack: 78, at: 2_000),
    ])
    try #require(events.count == 1)
    #expect(events[0].closeReason == .refused && events[0].direction == .incoming && events[0].terminatedBy == .local)
  }

  @Test func anRSTThatDoesNotAcknowledgeTheSYNIsNoRefusal() throws {
    // Control: the same RST acknowledging something else is a plain abort of an unknown flow.
    let events = run([
      segment(.syn, sent: true, sequence: 4_000_000_000, at: 1_000),
      segment([.rst, .ack], sent: false, sequence: 0xdead_beef, ack: 5, at: 2_000),
    ])
    try #require(events.count == 1)
    #expect(events[0].closeReason == .rst)
  }
}

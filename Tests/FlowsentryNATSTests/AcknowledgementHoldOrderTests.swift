import FlowsentryAggregate
import FlowsentryCore
import Testing

/// The hold on a heap releases and forces out exactly what the linear scan it replaced did, in
/// the same order, on long random sequences.
@Suite struct AcknowledgementHoldOrderTests {
  /// The hold as it was before the heap: every hold scans every held message.
  struct LinearHold {
    let window: Int64
    let lateness: Int64
    let capacity: Int
    var watermark = Int64.min
    var recovering = false
    var released: UInt64 = 0
    var forced: UInt64 = 0
    var messages: [(time: Int64, sequence: UInt64, message: Int)] = []

    func isLate(_ time: Int64) -> Bool {
      !recovering && watermark != .min && time < watermark.saturatingSubtraction(lateness)
    }

    mutating func hold(_ message: Int, at time: Int64, sequence: UInt64) -> [Int] {
      watermark = max(watermark, time)
      messages.append((time, sequence, message))
      var out = recovering ? [] : releasable()
      while messages.count > capacity, let oldest = messages.indices.min(by: { messages[$0].time < messages[$1].time })
      {
        out.append(messages.remove(at: oldest).message)
        forced += 1
      }
      return out
    }

    mutating func releasable() -> [Int] {
      guard !recovering, watermark != .min else { return [] }
      let horizon = watermark.saturatingSubtraction(lateness).saturatingSubtraction(window)
      var out: [Int] = []
      messages.removeAll { entry in
        guard entry.time < horizon else { return false }
        out.append(entry.message)
        return true
      }
      released += UInt64(out.count)
      return out
    }

    mutating func replace(sequence: UInt64, with message: Int) {
      if let index = messages.firstIndex(where: { $0.sequence == sequence }) { messages[index].message = message }
    }
  }

  @Test(arguments: [(capacity: 8, seed: 1), (capacity: 64, seed: 2), (capacity: 1000, seed: 3), (capacity: 1, seed: 4)])
  func releasesAndForcesAsTheLinearScanDid(capacity: Int, seed: UInt64) throws {
    var random = SeededRandom(seed: 0x9E37_79B9_7F4A_7C15 ^ seed)
    var hold = AcknowledgementHold<Int>(windowNanoseconds: 50, latenessNanoseconds: 20, capacity: capacity)
    var reference = LinearHold(window: 50, lateness: 20, capacity: capacity)
    var clock: Int64 = 0
    var sequence: UInt64 = 0
    var releasedTotal = 0
    for step in 0..<20_000 {
      // Mostly forward with jitter and ties, sometimes far back (late or recovering), sometimes a jump.
      clock += Int64.random(in: -3...6, using: &random)
      let time: Int64
      switch Int.random(in: 0..<20, using: &random) {
      case 0: time = clock - Int64.random(in: 0...200, using: &random)
      case 1: time = clock + Int64.random(in: 0...300, using: &random)
      default: time = clock
      }
      switch Int.random(in: 0..<100, using: &random) {
      case 0:
        hold.recovering.toggle()
        reference.recovering = hold.recovering
      case 1, 2:
        let out = hold.releasable()
        try #require(out == reference.releasable(), "step \(step)")
        releasedTotal += out.count
      case 3 where sequence > 0:
        let target = UInt64.random(in: 0..<sequence, using: &random)
        #expect(hold.holds(sequence: target) == reference.messages.contains { $0.sequence == target })
        if hold.holds(sequence: target) {
          hold.replace(sequence: target, with: -step)
          reference.replace(sequence: target, with: -step)
        }
      default:
        #expect(hold.isLate(time) == reference.isLate(time), "step \(step)")
        if hold.isLate(time) { continue }
        let out = hold.hold(step, at: time, sequence: sequence)
        try #require(out == reference.hold(step, at: time, sequence: sequence), "step \(step)")
        releasedTotal += out.count
        sequence += 1
      }
      #expect(hold.watermark == reference.watermark)
      #expect(hold.counters.held == reference.messages.count || hold.counters.held == 0 && reference.messages.isEmpty)
    }
    #expect(hold.held == reference.messages.map(\.message))
    #expect(hold.counters.released == reference.released && hold.counters.forced == reference.forced)
    #expect(releasedTotal > 1000 && (capacity > 100 || hold.counters.forced > 0), "the sequence exercises both")
  }
}

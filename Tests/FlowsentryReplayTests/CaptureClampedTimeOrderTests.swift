import FlowsentryCore
import FlowsentryTestSupport
import Foundation
import Testing

@testable import FlowsentryReplay

extension HostileCaptureFileTests {
  /// A packet whose time had to be clamped (here through its interface's `if_tsoffset`, as only a
  /// pcapng file's interface options can push a time out of range) is not the time later packets
  /// are held to: clamped to 2116 it made every later in-order packet read as backwards, and
  /// clamped to 1970 it read as backwards itself. A real step back is still counted, once.
  @Test func aClampedTimeIsLeftOutOfTheBackwardsCheck() throws {
    let second: UInt64 = 1_000_000_000
    let start: UInt64 = 1_700_000_000 * second
    var file = PcapngBuilder()
    file.interface(resolution: 9)
    // 9e9 s past the epoch (2^62 ns is about 4.6e9 s): every time on it clamps to the range's end.
    file.interface(resolution: 9, offsetSeconds: 9_000_000_000)
    // 9e9 s before the epoch: every time on it clamps to the range's start.
    file.interface(resolution: 9, offsetSeconds: -9_000_000_000)
    let frames = handshakeFrames()
    file.packet(interface: 0, frames[0], units: start)
    file.packet(interface: 1, frames[1], units: 0)
    file.packet(interface: 0, frames[2], units: start + second)
    file.packet(interface: 2, frames[0], units: 0)
    file.packet(interface: 0, frames[1], units: start + 2 * second)
    // A real step back: 12 s before the latest in-range time, past the 5 s tolerance.
    file.packet(interface: 0, frames[2], units: start - 10 * second)
    file.packet(interface: 0, frames[0], units: start + 3 * second)
    let path = try file.write(named: "clamped-order")
    defer { try? FileManager.default.removeItem(atPath: path) }

    let (replayer, _) = replay(path)
    #expect(replayer.summary.fileErrors.isEmpty, "\(replayer.summary.fileErrors)")
    #expect(replayer.summary.packets == 7 && replayer.summary.clampedTimestamps == 2)
    #expect(replayer.summary.backwardsPackets == 1)
    #expect(replayer.summary.firstBackwards?.place == "\(path): packet 6")
    #expect(replayer.summary.firstBackwards?.nanoseconds == Int64(12 * second))
  }
}

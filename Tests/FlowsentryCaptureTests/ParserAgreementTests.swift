import FlowsentryCapture
import FlowsentryCore
import FlowsentryPackets
import FlowsentryTestSupport
import Foundation
import Testing

/// Two packet parsers, one truth: the eBPF programs (run on each fixture with BPF_PROG_TEST_RUN) and
/// the replay decoder read the same bytes to the same observations, and skip the same packets for
/// the same reasons. (VLAN tags have no kernel side: cgroup hooks see packets without them.)
@Suite(.serialized, .requires(.root, .cgroup2))
struct ParserAgreementTests {
  static let local4 = IPAddress("198.51.100.2")!
  static let remote4 = IPAddress("203.0.113.53")!
  static let local6 = IPAddress("2001:db8::2")!
  static let remote6 = IPAddress("2001:db8:53::53")!

  enum Expectation {
    case recorded
    case skipped(DecodeSkip, kernelCounter: KeyPath<KernelCounters, UInt64>)
  }

  struct Fixture {
    var name: String
    var frame: [UInt8]
    var hook: Hook
    var expectation: Expectation
  }

  static var fixtures: [Fixture] {
    let answer = Frames.dns(id: 7, "www.fs.test", answer: [192, 0, 2, 80])
    let tcpAnswer = Frames.bytes(UInt16(answer.count)) + answer
    let noOptions = [UInt8](repeating: 1, count: 12)  // twelve NOP options: a 32-byte header
    var laterFragment = Frames.ipv4(remote4, local4, protocolNumber: 17, Frames.udp(53, 40_000, answer))
    laterFragment[6] = 0x00
    laterFragment[7] = 0xb9  // offset 185 × 8 bytes
    let cut = Array(Frames.ipv4(remote4, local4, protocolNumber: 17, Frames.udp(53, 40_000, answer)).prefix(22))
    return [
      Fixture(
        name: "DNS over UDP behind IPv4 options",
        frame: Frames.ethernet(
          Frames.ipv4(remote4, local4, protocolNumber: 17, Frames.udp(53, 40_000, answer), options: noOptions)),
        hook: .ingress, expectation: .recorded),
      Fixture(
        name: "DNS over TCP, length-prefixed",
        frame: Frames.ethernet(
          Frames.ipv4(
            remote4, local4, protocolNumber: 6,
            Frames.tcp(53, 40_001, flags: [.psh, .ack], sequence: 9, ack: 3, tcpAnswer))),
        hook: .ingress, expectation: .recorded),
      Fixture(
        name: "DNS behind 8 IPv6 extension headers",
        frame: Frames.ethernet(
          Frames.ipv6(remote6, local6, protocolNumber: 17, Frames.udp(53, 40_002, answer), extensionHeaders: 8),
          ipv6: true),
        hook: .ingress, expectation: .recorded),
      Fixture(
        name: "the kernel's RST refusing a closed port",
        frame: Frames.ethernet(
          Frames.ipv4(
            local4, remote4, protocolNumber: 6, Frames.tcp(8080, 40_003, flags: [.rst, .ack], sequence: 0, ack: 77))),
        hook: .egress, expectation: .recorded),
      Fixture(
        name: "9 IPv6 extension headers",
        frame: Frames.ethernet(
          Frames.ipv6(remote6, local6, protocolNumber: 17, Frames.udp(53, 40_004, answer), extensionHeaders: 9),
          ipv6: true),
        hook: .ingress, expectation: .skipped(.ipv6Unparsed, kernelCounter: \.ipv6Unparsed)),
      Fixture(
        name: "an IPv4 fragment after the first", frame: Frames.ethernet(laterFragment), hook: .ingress,
        expectation: .skipped(.laterFragment, kernelCounter: \.ipv4Fragments)),
      Fixture(
        name: "a UDP header cut short", frame: Frames.ethernet(cut), hook: .ingress,
        expectation: .skipped(.truncated, kernelCounter: \.shortPackets)),
    ]
  }

  @Test func theKernelAndTheReplayDecoderReadEveryFixtureAlike() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let session = try CaptureSession(cgroupPath: cgroup.path)
    let stream = try session.packets()
    let collector = Task {
      var records: [CapturedRecord] = []
      for await batch in stream { records += batch }
      return records
    }

    var counted: [KernelCounters] = []
    for fixture in Self.fixtures {
      counted.append(session.statistics.kernel)
      try session.testRun(frame: fixture.frame, hook: fixture.hook)
      try await Task.sleep(for: .milliseconds(50))
    }
    counted.append(session.statistics.kernel)
    session.stop()
    var kernelRecords = await collector.value[...]

    var observer = PacketObserver(
      configuration: {
        var configuration = PacketObserver.Configuration()
        configuration.localNetworks = [Self.local4, Self.local6].map { IPNetwork($0.description)! }
        return configuration
      }())
    for (index, fixture) in Self.fixtures.enumerated() {
      var packet = DecodedPacket()
      let skip = fixture.frame.withUnsafeBytes {
        PacketDecoder.decode($0, linkType: LinkType.ethernet, into: &packet)
      }
      switch fixture.expectation {
      case .skipped(let reason, let counter):
        #expect(skip == reason, "\(fixture.name): replay")
        #expect(counted[index + 1][keyPath: counter] == counted[index][keyPath: counter] + 1, "\(fixture.name): kernel")
      case .recorded:
        #expect(skip == nil, "\(fixture.name): replay decoded it")
        var records: [CapturedRecord] = []
        fixture.frame.withUnsafeBytes { observer.observe(packet, frame: $0, at: 0, into: &records) }
        let replayed = try #require(records.first, "\(fixture.name): replay observed nothing")
        let next = kernelRecords.popFirst()
        let kernel = try #require(next, "\(fixture.name): the kernel recorded nothing")
        switch (kernel, replayed) {
        case (.dns(let k), .dns(let r)):
          #expect(k.hook == r.hook && k.source == r.source && k.destination == r.destination, "\(fixture.name)")
          #expect(k.transport == r.transport && k.messageLength == r.messageLength, "\(fixture.name)")
          #expect(k.payload == r.payload, "\(fixture.name): the same message bytes")
        case (.tcp(let k), .tcp(let r)):
          #expect(k.hook == r.hook && k.source == r.source && k.destination == r.destination, "\(fixture.name)")
          #expect(k.flags == r.flags && k.sequence == r.sequence && k.acknowledgment == r.acknowledgment)
        default:
          Issue.record("\(fixture.name): the kernel recorded \(kernel), replay \(replayed)")
        }
      }
    }
    #expect(kernelRecords.isEmpty, "records no fixture accounts for: \(Array(kernelRecords))")
  }
}

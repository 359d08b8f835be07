import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryOutput

/// The TCP and UDP entries of community-id-spec's published baselines (baseline_deflt.json and
/// baseline_seed1.json), each flow in both directions.
@Suite struct CommunityIDTests {
  struct Vector: Sendable, CustomTestStringConvertible {
    var transport: UInt8
    var source: String
    var sourcePort: UInt16
    var destination: String
    var destinationPort: UInt16
    var seed0: String
    var seed1: String
    var testDescription: String { "\(source):\(sourcePort) → \(destination):\(destinationPort) (\(transport))" }
  }

  static let vectors: [Vector] = [
    Vector(
      transport: 6, source: "128.232.110.120", sourcePort: 34855, destination: "66.35.250.204", destinationPort: 80,
      seed0: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", seed1: "1:3V71V58M3Ksw/yuFALMcW0LAHvc="),
    Vector(
      transport: 6, source: "2001:470:e5bf:dead:4957:2174:e82c:4887", sourcePort: 63943,
      destination: "2607:f8b0:400c:c03::1a", destinationPort: 25,
      seed0: "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", seed1: "1:eJYTW6AOzFLlSUoESovMjnu7rMw="),
    Vector(
      transport: 17, source: "192.168.1.52", sourcePort: 54585, destination: "8.8.8.8", destinationPort: 53,
      seed0: "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", seed1: "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="),
  ]

  @Test(arguments: vectors) func matchesTheSpecBaselinesInBothDirections(_ vector: Vector) throws {
    let source = Endpoint(try #require(IPAddress(vector.source)), vector.sourcePort)
    let destination = Endpoint(try #require(IPAddress(vector.destination)), vector.destinationPort)
    for (seed, expected) in [(UInt16(0), vector.seed0), (1, vector.seed1)] {
      let id = CommunityID(seed: seed)
      #expect(id.string(source, destination, transport: vector.transport) == expected)
      #expect(id.string(destination, source, transport: vector.transport) == expected)
    }
  }

  @Test func anIPv4MappedAddressHashesAsTheIPv4AddressOnTheWire() throws {
    let mapped = Endpoint(try #require(IPAddress("::ffff:128.232.110.120")), 34855)
    let server = Endpoint(try #require(IPAddress("66.35.250.204")), 80)
    #expect(CommunityID().string(mapped, server, transport: CommunityID.tcp) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
  }

  @Test func equalAddressesAreOrderedByPort() throws {
    let loopback = try #require(IPAddress("127.0.0.1"))
    let id = CommunityID()
    let forward = id.string(Endpoint(loopback, 5000), Endpoint(loopback, 80), transport: CommunityID.tcp)
    #expect(forward == id.string(Endpoint(loopback, 80), Endpoint(loopback, 5000), transport: CommunityID.tcp))
    #expect(forward != id.string(Endpoint(loopback, 5001), Endpoint(loopback, 80), transport: CommunityID.tcp))
  }

  @Test func flowAndDNSEventsCarryTheirCommunityID() throws {
    let event = FlowEvent(
      name: .netFlowTCPEnd, timestamp: 1, direction: .incoming,
      source: Endpoint(try #require(IPAddress("66.35.250.204")), 80),
      destination: Endpoint(try #require(IPAddress("128.232.110.120")), 34855), closeReason: .fin,
      terminatedBy: .remote)
    let line = EventJSON.line(for: event, context: EventJSON.Context(hostName: "h"))
    let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    let args = try #require(object["args"] as? [String: Any])
    #expect(args["community_id"] as? String == "1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
  }
}

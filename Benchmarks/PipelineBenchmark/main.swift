import FlowsentryCore
import FlowsentryFlows
import FlowsentryOutput
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

// Throughput of the user-space pipeline stages on synthetic loopback connections, one core.
// Prints packets/s through the flow tracker and events/s through JSON encoding.

func nanoseconds() -> Int64 {
  var now = timespec()
  clock_gettime(CLOCK_MONOTONIC, &now)
  return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
}

let connections = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 200_000
let server = Endpoint(IPAddress("127.0.0.1")!, 8080)
var packets: [TCPPacketObservation] = []
packets.reserveCapacity(connections * 6)
for index in 0..<connections {
  let client = Endpoint(IPAddress.v4(0x7f00_0001), UInt16(1024 + index % 60_000))
  let t = Int64(index) * 10_000
  let owner = ProcessIdentity(pid: 4242, uid: 0, command: "wrk")
  func packet(_ hook: Hook, _ from: Endpoint, _ to: Endpoint, _ flags: TCPFlags, _ at: Int64) -> TCPPacketObservation {
    TCPPacketObservation(timestamp: at, hook: hook, source: from, destination: to, flags: flags, process: owner)
  }
  packets += [
    packet(.egress, server, client, [.syn, .ack], t), packet(.ingress, server, client, [.syn, .ack], t + 1),
    packet(.egress, client, server, [.fin, .ack], t + 2), packet(.ingress, client, server, [.fin, .ack], t + 3),
    packet(.egress, server, client, [.fin, .ack], t + 4), packet(.ingress, server, client, [.fin, .ack], t + 5),
  ]
}

var tracker = FlowTracker()
var events: [FlowEvent] = []
events.reserveCapacity(packets.count)
var start = nanoseconds()
for packet in packets { tracker.observe(packet, into: &events) }
let trackerSeconds = Double(nanoseconds() - start) / 1e9

let context = EventJSON.Context(hostName: "bench")
var bytes = 0
start = nanoseconds()
for event in events { bytes &+= EventJSON.line(for: event, context: context).utf8.count }
let jsonSeconds = Double(nanoseconds() - start) / 1e9

func rate(_ count: Int, _ seconds: Double) -> String {
  String(Int(Double(count) / seconds))
}
print("pipeline benchmark: \(connections) loopback connections, \(packets.count) packets, \(events.count) events")
print(
  "flow tracker: \(rate(packets.count, trackerSeconds)) packets/s (\(String(format: "%.0f", trackerSeconds * 1e9 / Double(packets.count))) ns/packet)"
)
print("JSON encoding: \(rate(events.count, jsonSeconds)) events/s (\(bytes / max(1, events.count)) bytes/event)")

import FlowsentryCore
import FlowsentryDNS
import FlowsentryFlows
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryRules
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
/// `PipelineBenchmark N RULES behaviour [KINDS [REMOTES]]` runs the rule-kind rows only (count, sum, max,
/// beaconing, first seen), before anything else is generated: KINDS comma-separated labels
/// (`beaconing,first seen`, or `all`), REMOTES one remote count (1000 or 100000).
if CommandLine.arguments.count > 3 && CommandLine.arguments[3] == "behaviour" {
  let arguments = CommandLine.arguments
  let kinds = arguments.count > 4 && arguments[4] != "all" ? arguments[4] : nil
  behaviourRuleBenchmarks(kinds: kinds, remotes: arguments.count > 5 ? Int(arguments[5]) : nil)
  exit(0)
}
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
var line: [UInt8] = []
line.reserveCapacity(4096)
let timeCache = EncodingCache()
start = nanoseconds()
// As the stdout sink does: into a reused buffer, with a per-second cache of the date-time.
for event in events {
  line.removeAll(keepingCapacity: true)
  EventJSON.append(.flow(event), context: context, to: &line, cache: timeCache)
  bytes &+= line.count
}
let jsonSeconds = Double(nanoseconds() - start) / 1e9

func rate(_ count: Int, _ seconds: Double) -> String {
  String(Int(Double(count) / seconds))
}
print("pipeline benchmark: \(connections) loopback connections, \(packets.count) packets, \(events.count) events")
print(
  "flow tracker: \(rate(packets.count, trackerSeconds)) packets/s (\(String(format: "%.0f", trackerSeconds * 1e9 / Double(packets.count))) ns/packet)"
)
print("JSON encoding: \(rate(events.count, jsonSeconds)) events/s (\(bytes / max(1, events.count)) bytes/event)")

// DNS: parse + cache insert, then lookups, on responses shaped like real ones
// (www.bench.test → CNAME edge.bench.test → A), one distinct address per message.
func dnsResponse(index: Int) -> [UInt8] {
  var bytes: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]
  func name(_ text: String) {
    for label in text.split(separator: ".") {
      bytes.append(UInt8(label.utf8.count))
      bytes += Array(label.utf8)
    }
    bytes.append(0)
  }
  name("www\(index).bench.test")
  bytes += [0, 1, 0, 1]
  bytes += [0xc0, 12, 0, 5, 0, 1, 0, 0, 1, 44]  // CNAME, TTL 300
  let target = bytes.count + 2
  var encoded: [UInt8] = []
  swap(&bytes, &encoded)
  name("edge.bench.test")
  swap(&bytes, &encoded)
  bytes += [UInt8(encoded.count >> 8), UInt8(encoded.count & 0xff)] + encoded
  bytes += [0xc0, UInt8(target), 0, 1, 0, 1, 0, 0, 1, 44, 0, 4]
  bytes += [10, UInt8(index >> 16 & 0xff), UInt8(index >> 8 & 0xff), UInt8(index & 0xff)]
  return bytes
}
let dnsMessages = (0..<100_000).map(dnsResponse)
var dnsCache = DNSCache()
start = nanoseconds()
for message in dnsMessages {
  if let parsed = try? DNSParser.parse(message) { dnsCache.insert(parsed, at: 0) }
}
let insertSeconds = Double(nanoseconds() - start) / 1e9
let lookups = 1_000_000
start = nanoseconds()
var named = 0
for index in 0..<lookups {
  let address = IPAddress.v4(0x0a00_0000 | UInt32(index % 100_000))
  named &+= dnsCache.names(for: address, at: 1).count
}
let lookupSeconds = Double(nanoseconds() - start) / 1e9
print(
  "DNS parse + cache insert: \(rate(dnsMessages.count, insertSeconds)) messages/s "
    + "(\(dnsCache.counters.entries) addresses cached)")
print("DNS cache lookup: \(rate(lookups, lookupSeconds)) lookups/s (\(named / lookups) names per hit)")

// Rules: the shipped ruleset, then 1,000 generated regex rules, over a mix of flow events
// (begins and ends, some with names). Throughput over the whole run; latency per event sampled.
@MainActor func ruleBenchmark(_ label: String, _ rules: RuleSet) {
  let engine = RuleEngine(rules: rules)
  var sensorEvents: [SensorEvent] = []
  sensorEvents.reserveCapacity(events.count)
  for (index, event) in events.enumerated() {
    var named = event
    if index % 4 == 0 { named.destinationNames = ["host\(index % 1000).example.com"] }
    sensorEvents.append(.flow(named))
  }
  var alerts: [Alert] = []
  start = nanoseconds()
  for event in sensorEvents { engine.process(event, at: event.timestamp, into: &alerts) }
  let seconds = Double(nanoseconds() - start) / 1e9
  var latencies: [Int64] = []
  latencies.reserveCapacity(sensorEvents.count / 16)
  for event in sensorEvents[...].striding(by: 16) {
    let before = nanoseconds()
    engine.process(event, at: event.timestamp, into: &alerts)
    latencies.append(nanoseconds() - before)
  }
  latencies.sort()
  let p50 = latencies[latencies.count / 2]
  let p99 = latencies[latencies.count * 99 / 100]
  print(
    "rules, \(label): \(rate(sensorEvents.count, seconds)) events/s, p50 \(p50) ns, p99 \(p99) ns per event "
      + "(\(engine.ruleCount) rules, \(rules.regexCount) regexes, \(engine.counters.alerts) alerts)")
}

extension ArraySlice {
  func striding(by step: Int) -> [Element] { stride(from: startIndex, to: endIndex, by: step).map { self[$0] } }
}

let rulesDirectory = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : "rules"
/// `PipelineBenchmark N RULES pipeline` runs the whole-chain part only (for profiling it alone).
let onlyWholePipeline = CommandLine.arguments.count > 3 && CommandLine.arguments[3] == "pipeline"
/// `PipelineBenchmark N RULES forwarding` runs the forwarding part only.
let onlyForwarding = CommandLine.arguments.count > 3 && CommandLine.arguments[3] == "forwarding"
/// `PipelineBenchmark N RULES rules` runs the shipped set's part only, five times (for profiling it alone).
let onlyShippedRules = CommandLine.arguments.count > 3 && CommandLine.arguments[3] == "rules"
/// `PipelineBenchmark N RULES recording` runs the recording replay only.
if CommandLine.arguments.count > 3 && CommandLine.arguments[3] == "recording" {
  recordingReplayBenchmark(events, rulesDirectory: rulesDirectory)
  exit(0)
}
if onlyShippedRules {
  for _ in 0..<5 { ruleBenchmark("shipped set", try RuleLoader.load(paths: [rulesDirectory])) }
  exit(0)
}
if !onlyWholePipeline && !onlyForwarding {
  ruleBenchmarks()
}

@MainActor func ruleBenchmarks() {
  do {
    ruleBenchmark("shipped set", try RuleLoader.load(paths: [rulesDirectory]))
    var generated = ""
    for index in 0..<1000 {
      generated += """
        - rule:
            id: GEN-\(index)
            name: generated \(index)
            events: [net_flow_tcp_begin]
            condition: dst_dns imatches '^(bad|evil|c2)\(index)[a-z]*\\.example\\.(com|net)$'

        """
    }
    ruleBenchmark("1000 regex rules", try RuleLoader.load(text: generated))
    behaviourRuleBenchmarks()
  } catch {
    print("rules benchmark: \(error)")
  }
}

// The whole chain as `monitor` runs it: socket state changes (4 per loopback connection: two begins,
// two ends) through `Pipeline` (tracking, DNS naming, the shipped rules) into JSON lines written to
// /dev/null.
do {
  var records: [CapturedRecord] = []
  records.reserveCapacity(connections * 4)
  for index in 0..<connections {
    let client = Endpoint(IPAddress.v4(0x7f00_0001), UInt16(1024 + index % 60_000))
    let t = Int64(index) * 10_000
    let owner = ProcessIdentity(pid: 4242, uid: 0, command: "wrk")
    func change(_ transition: SocketStateChange.Transition, _ direction: ConnectionDirection, _ at: Int64)
      -> CapturedRecord
    {
      let outgoing = direction == .outgoing
      return .socket(
        SocketStateChange(
          timestamp: at, transition: transition, direction: direction, local: outgoing ? client : server,
          remote: outgoing ? server : client, process: owner))
    }
    records += [
      change(.established, .outgoing, t), change(.established, .incoming, t + 1),
      change(.ended(.fin, by: .local), .outgoing, t + 2), change(.ended(.fin, by: .remote), .incoming, t + 3),
    ]
  }
  // Profiling the chain alone repeats it, so that one run shows how much the machine's noise moves it.
  for _ in 0..<(onlyWholePipeline ? 3 : 1) {
    let pipeline = Pipeline(rules: try RuleLoader.load(paths: [rulesDirectory]))
    let devNull = open("/dev/null", O_WRONLY)
    let sink = JSONLinesEventSink(descriptor: devNull, context: context)
    start = nanoseconds()
    for (index, record) in records.enumerated() {
      pipeline.process(record, to: sink)
      if index % 1024 == 1023 { sink.flush() }
    }
    sink.flush()
    let seconds = Double(nanoseconds() - start) / 1e9
    close(devNull)
    print(
      "whole pipeline (socket changes → tracking → DNS → shipped rules → JSON): \(rate(records.count, seconds)) "
        + "records/s (\(String(format: "%.0f", seconds * 1e9 / Double(records.count))) ns/record, "
        + "\(sink.counters.eventsWritten) events, \(sink.counters.alertsWritten) alerts)")
  }
  if !onlyWholePipeline { forwardingBenchmarks(records: records, rulesDirectory: rulesDirectory) }
} catch {
  print("pipeline benchmark: \(error)")
}

// Replay: a generated capture as a server records it (Ethernet, IPv4, 7 packets per connection:
// handshake, one data segment, both FINs, the last ACK) read through libpcap, decoded, observed and run through the
// pipeline with the shipped rules into JSON lines written to /dev/null.
if !onlyForwarding && !onlyWholePipeline {
  do {
    let replayConnections = max(1, connections * 3 / 4)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("flowsentry-bench-\(getpid()).pcap").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    var file = Data()
    func append32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { file.append(contentsOf: $0) } }
    append32(0xa1b2_3c4d)
    append32(0x0004_0002)
    append32(0)
    append32(0)
    append32(65_535)
    append32(1)
    var packetCount = 0
    func frame(
      _ from: UInt32, _ to: UInt32, _ sourcePort: UInt16, _ destinationPort: UInt16, _ flags: UInt8,
      sequence: UInt32, ack: UInt32, at: Int64
    ) {
      var bytes: [UInt8] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]
      bytes += [0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0]
      for address in [from, to] { withUnsafeBytes(of: address.bigEndian) { bytes += $0 } }
      for port in [sourcePort, destinationPort] { withUnsafeBytes(of: port.bigEndian) { bytes += $0 } }
      for number in [sequence, ack] { withUnsafeBytes(of: number.bigEndian) { bytes += $0 } }
      bytes += [0x50, flags, 0xff, 0xff, 0, 0, 0, 0]
      append32(UInt32(at / 1_000_000_000))
      append32(UInt32(at % 1_000_000_000))
      append32(UInt32(bytes.count))
      append32(UInt32(bytes.count))
      file.append(contentsOf: bytes)
      packetCount += 1
    }
    // As a host's own capture: its address local (10.0.0.1), its clients on the internet (198.18.0.0/15).
    let serverAddress: UInt32 = 0x0a00_0001
    for index in 0..<replayConnections {
      let client = 0xc612_0000 | UInt32(index % 50_000)
      let port = UInt16(1024 + index % 60_000)
      let t = 1_700_000_000_000_000_000 + Int64(index) * 10_000
      let (c, s): (UInt32, UInt32) = (1000, 5000)  // the two initial sequence numbers
      frame(client, serverAddress, port, 443, 0x02, sequence: c, ack: 0, at: t)
      frame(serverAddress, client, 443, port, 0x12, sequence: s, ack: c + 1, at: t + 1)
      frame(client, serverAddress, port, 443, 0x10, sequence: c + 1, ack: s + 1, at: t + 2)
      frame(client, serverAddress, port, 443, 0x18, sequence: c + 1, ack: s + 1, at: t + 3)
      frame(client, serverAddress, port, 443, 0x11, sequence: c + 1, ack: s + 1, at: t + 4)
      frame(serverAddress, client, 443, port, 0x11, sequence: s + 1, ack: c + 2, at: t + 5)
      frame(client, serverAddress, port, 443, 0x10, sequence: c + 2, ack: s + 2, at: t + 6)
    }
    try file.write(to: URL(fileURLWithPath: path))
    let megabytes = Double(file.count) / 1_000_000
    // As `replay --events none` (alerts only) and as `replay` (flow events printed too).
    for (label, selection) in [
      ("alerts only", Set<EventName>()), ("flow events printed", [.netFlowTCPBegin, .netFlowTCPEnd]),
    ] {
      let replayer = Replayer(
        pipeline: Pipeline(
          configuration: Pipeline.Configuration().validatingSegments,
          rules: try RuleLoader.load(paths: [rulesDirectory])
        ))
      let devNull = open("/dev/null", O_WRONLY)
      let output = JSONLinesEventSink(descriptor: devNull, context: context)
      start = nanoseconds()
      replayer.replay(path: path, to: SelectingEventSink(selection: selection, output))
      let seconds = Double(nanoseconds() - start) / 1e9
      close(devNull)
      print(
        "replay, \(label) (generated capture, \(packetCount) packets, \(String(format: "%.0f", megabytes)) MB, "
          + "shipped rules): \(rate(packetCount, seconds)) packets/s, \(String(format: "%.0f", megabytes / seconds)) MB/s "
          + "(\(replayer.pipeline.counters.flows.beginEvents) flows, \(output.counters.eventsWritten) events printed)")
    }
  } catch {
    print("replay benchmark: \(error)")
  }
}
if !onlyForwarding && !onlyWholePipeline { recordingReplayBenchmark(events, rulesDirectory: rulesDirectory) }

import FlowsentryCore
import FlowsentryRules

// libFuzzer entry point: every input is loaded as a rule file (YAML, lists, macros, conditions,
// regexes, thresholds, tests), as SIGHUP would; a set that loads runs its tests and a few events,
// some at the edges of time. No input may crash, hang or trip a sanitizer. Built and run by scripts/fuzz.sh rules.
let sampleEvents: [SensorEvent] = [
  .flow(
    FlowEvent(
      name: .netFlowTCPBegin, timestamp: 1_000_000_000, direction: .incoming,
      source: Endpoint(IPAddress("203.0.113.7")!, 40_000), destination: Endpoint(IPAddress("198.51.100.2")!, 22),
      sourceNames: ["a.example"], process: ProcessIdentity(pid: 1, uid: 0, command: "sshd"))),
  .flow(
    FlowEvent(
      name: .netFlowTCPEnd, timestamp: 2_000_000_000, direction: .outgoing,
      source: Endpoint(IPAddress("::1")!, 1), destination: Endpoint(IPAddress("2001:db8::1")!, 443),
      destinationNames: ["x.trycloudflare.com"], closeReason: .rst, terminatedBy: .remote, durationNanoseconds: 5)),
  .flow(
    FlowEvent(
      name: .netFlowTCPHalfOpen, timestamp: 3_000_000_000, direction: .incoming,
      source: Endpoint(IPAddress("203.0.113.9")!, 1), destination: Endpoint(IPAddress("198.51.100.2")!, 80),
      attempts: 40)),
  .dns(
    DNSEvent(
      timestamp: 4_000_000_000, source: Endpoint(IPAddress("192.0.2.53")!, 53),
      destination: Endpoint(IPAddress("10.0.0.2")!, 5353), transport: .udp, cgroupID: 0, id: 1, responseCode: 0,
      questions: ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!.example"],
      answers: [.init(name: "q", type: "A", timeToLive: 1, data: "192.0.2.1")], truncated: false)),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
  guard let rules = try? RuleLoader.load(text: text, file: "fuzz.yaml") else { return 0 }
  // What `rules test` does with a set that loads.
  _ = RuleTestRunner.run(rules)
  let engine = RuleEngine(rules: rules)
  var alerts: [Alert] = []
  for event in sampleEvents { engine.process(event, at: event.timestamp, into: &alerts) }
  // Times a recording may carry: the windows reach past both ends of Int64.
  for (event, time) in zip(sampleEvents + sampleEvents, [Int64.min, .max, .min + 1, .max - 1, .min, 0, .max, .min]) {
    engine.process(event, at: time, into: &alerts)
  }
  return 0
}
